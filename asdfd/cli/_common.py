"""Small helpers shared by the subcommands."""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from asdfd.core.errors import AsdfdError, TrainingDivergedError

__all__ = [
    "user_errors",
    "show_progress",
    "resume_command",
    "parse_int_list",
    "parse_student_layers",
    "parse_student_ffn",
    "parse_student_heads",
    "student_flag_values",
    "print_report_summary",
    "student_flag_help",
    "MINUTES_HELP",
    "minutes_flag_values",
]

_STUDENT_WORDS = {
    "layers": "Student depth N (spread over the teacher, last layer kept), teacher layers (e.g. 0,2,5), or auto / "
    "auto:N (the teacher chooses N layers by the cut student's agreement on synthetic held-out words).",
    "ffn": "Feed-forward neurons kept per student layer, by weight norms: a count (1024), a share of the teacher's "
    "(0.67) or all.",
    "heads": "Attention heads kept per student layer, by weight norms: a count (8), a share of the teacher's (0.67) "
    "or all.",
}


def _kept_shown(count: int | None, fraction: float) -> str:
    return str(count) if count is not None else ("all" if fraction >= 1 else f"{fraction:.2g}")


_STUDENT_DEFAULTS = {
    "layers": lambda s: (
        ",".join(map(str, s.layers)) if s.layers else str(s.num_layers or f"{s.depth_fraction:.2g} of the teacher's")
    ),
    "ffn": lambda s: _kept_shown(s.ffn_size, s.ffn_fraction),
    "heads": lambda s: _kept_shown(s.num_heads, s.heads_fraction),
}


def student_flag_help(defaults: dict[str, Any]) -> dict[str, str]:
    """Help of --student-layers/-ffn/-heads ("layers", "ffn", "heads"), each default read from the configs a
    command starts from (label -> DistillConfig, "" for the plain default), never written by hand."""
    helps = {}
    for key, read in _STUDENT_DEFAULTS.items():
        values = [(label, read(config.student)) for label, config in defaults.items()]
        if all(value == values[0][1] for _, value in values):
            shown = values[0][1]
        else:
            shown = "; ".join(f"{label}: {value}" if label else value for label, value in values)
        helps[key] = f"{_STUDENT_WORDS[key]}  [default: {shown}]"
    return helps


def show_progress(ctx: click.Context) -> bool:
    """Progress bars only on a terminal: not with `-q`, and not into a file or pipe, where each redraw would be a
    line of its own (the periodic log lines say how far a run is there)."""
    return not (ctx.obj or {}).get("quiet", False) and sys.stderr.isatty()


def _env_number(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else default


def resume_command(flag: str | None = None) -> str:
    """The command line that was run, with `flag` added if missing: what resumes an interrupted run."""
    args = list(sys.argv[1:])
    if flag and flag not in args:
        args.append(flag)
    if _env_number("WORLD_SIZE", 1) > 1:  # launched by torchrun: the same launch, same world size
        return "torchrun <the same options> -m asdfd.cli " + shlex.join(args)
    return shlex.join(["compress", *args])


COMPRESS_EXTRA_MODULES = ("torch", "transformers", "optimum", "onnx", "onnxscript", "safetensors")
"""What the compress extra installs and the runtime-only install lacks."""
MISSING_EXTRA = (
    'compress needs the compress extra ({module} is not installed): pip install ".[compress]" '
    "(the torch CPU wheel first, see README)"
)


@contextlib.contextmanager
def user_errors(resume_flag: str | None = None, out: Path | None = None) -> Iterator[None]:
    """Turn `AsdfdError` into click's one-line `Error: ...` (exit 1), and a missing compress extra into the line that
    installs it; Ctrl-C / SIGTERM exit 130, saying whether anything was written next to `out` and, if so, the
    command that resumes (`resume_flag` added to this one)."""
    rank = _env_number("RANK", 0)  # a malformed value is reported where the process group is set up
    started = time.time()
    try:
        yield
    except TrainingDivergedError as err:  # agreed by all ranks under torchrun: rank 0 says it once
        if rank:
            raise SystemExit(1) from None
        raise click.ClickException(str(err)) from None
    except AsdfdError as err:
        raise click.ClickException(f"rank {rank}: {err}" if rank else str(err)) from None
    except ModuleNotFoundError as err:
        module = (err.name or "").partition(".")[0]
        if module not in COMPRESS_EXTRA_MODULES:
            raise
        raise click.ClickException(MISSING_EXTRA.format(module=module)) from None
    except OSError as err:  # disk full, permissions, a vanished folder: the system's words, on one line
        where = f" ({err.filename})" if err.filename else ""
        hint = ": free some space or choose another --out" if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        message = f"{err.strerror or err}{where}{hint}"
        raise click.ClickException(f"rank {rank}: {message}" if rank else message) from None
    except KeyboardInterrupt:
        if rank:  # rank 0 saved the checkpoint and prints the command
            raise SystemExit(130) from None
        click.echo(_interrupted_line(out, started, resume_flag), err=True)
        raise SystemExit(130) from None


def _interrupted_line(out: Path | None, started: float, resume_flag: str | None) -> str:
    """What Ctrl-C leaves: nothing written since `started` next to `out` (the output, its hidden checkpoint or work
    folder, all named after it), or complete files and the command that goes on from them."""
    if out is not None and not _written_since(Path(out), started):
        return "Interrupted before anything was written; nothing is left behind."
    return f"Interrupted; outputs written so far are complete. To resume: {resume_command(resume_flag)}"


def _written_since(out: Path, started: float) -> bool:
    """Whether anything named after `out` (student, .student.ckpt, student.run, ...) appeared or changed since."""
    stem = out.name.removesuffix(out.suffix) if out.suffix else out.name
    try:
        entries = list(out.parent.iterdir()) if out.parent.is_dir() else []
    except OSError:
        return True  # cannot tell: say what holds when something was written
    for entry in entries:
        name = entry.name.lstrip(".")
        if (name == stem or name.startswith(f"{stem}.")) and not name.endswith(".tmp"):
            try:
                if entry.lstat().st_mtime >= started - 1:
                    return True
            except OSError:
                continue
    return False


def parse_int_list(value: str | None, option: str) -> list[int] | None:
    """'1,8,32' -> [1, 8, 32]; raises a usage error naming the option otherwise."""
    if value is None:
        return None
    try:
        items = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint=option) from None
    if not items or any(item < 0 for item in items):
        raise click.BadParameter(f"expected non-negative integers, got {value!r}", param_hint=option)
    return items


def print_report_summary(report) -> None:
    """Print a BenchReport's summary table and its notes (rich; never squeezed below 132 columns)."""
    from rich.console import Console

    console = Console()
    console.width = max(console.width, 132)  # the table has 8 columns: never squeeze model names
    console.print(report.summary_table())
    if report.estimate:
        click.echo(f"Quality estimate (no data used): {report.estimate['summary']}")
    for note in report.notes:
        click.echo(f"Note: {note}")


def parse_student_layers(value: str | None) -> dict[str, Any]:
    """ "3" -> 3 layers spread over the depth; "0,2,5" (or "5,") -> exactly those teacher layers; "auto" ("auto:3")
    -> the teacher chooses them (that many)."""
    if value is None:
        return {}
    word, _, depth = value.strip().lower().partition(":")
    if word == "auto":
        if not depth:
            return {"layers": None, "layer_choice": "auto"}
        if not depth.isdigit() or int(depth) < 1:
            raise click.BadParameter(f"expected auto or auto:N (N >= 1), got {value!r}", param_hint="--student-layers")
        return {"layers": None, "num_layers": int(depth), "layer_choice": "auto"}
    if "," not in value:
        try:
            count = int(value)
        except ValueError:
            raise click.BadParameter(
                f"expected a count, a list like 0,2,5 or auto, got {value!r}", param_hint="--student-layers"
            ) from None
        if count < 1:
            raise click.BadParameter(f"expected at least 1 layer, got {count}", param_hint="--student-layers")
        return {"num_layers": count, "layers": None}
    return {"layer_choice": "spread", "layers": tuple(parse_int_list(value, "--student-layers")), "num_layers": None}


def parse_student_ffn(value: str | None) -> dict[str, Any]:
    """ "1024" -> that many FFN neurons per layer; "0.5" -> that share of the teacher's; "all" -> full width."""
    return _parse_kept(
        value,
        option="--student-ffn",
        count_key="ffn_size",
        fraction_key="ffn_fraction",
        what="a neuron count (e.g. 1024)",
    )


def parse_student_heads(value: str | None) -> dict[str, Any]:
    """ "8" -> that many attention heads per layer; "0.67" -> that share of the teacher's; "all" -> every head."""
    return _parse_kept(
        value,
        option="--student-heads",
        count_key="num_heads",
        fraction_key="heads_fraction",
        what="a head count (e.g. 8)",
    )


def _parse_kept(value: str | None, *, option: str, count_key: str, fraction_key: str, what: str) -> dict[str, Any]:
    """StudentConfig fields for a count, a share in (0, 1] or "all" of something each layer keeps."""
    if value is None:
        return {}
    if value.strip().lower() == "all":
        return {count_key: None, fraction_key: 1.0}
    try:
        if "." in value:
            fraction = float(value)
            if not 0 < fraction <= 1:
                raise ValueError
            return {count_key: None, fraction_key: fraction}
        count = int(value)
        if count < 1:
            raise ValueError
        return {count_key: count}
    except ValueError:
        raise click.BadParameter(
            f"expected {what}, a share in (0, 1] (e.g. 0.67) or 'all', got {value!r}", param_hint=option
        ) from None


def student_flag_values(layers: str | None, ffn: str | None, heads: str | None) -> dict[str, tuple[str, Any]]:
    """The student-shape flags as {config path: (flag, value)} for `asdfd.cli.options.apply_flag_values`."""
    given: dict[str, tuple[str, Any]] = {}
    for flag, fields in (
        ("--student-layers", parse_student_layers(layers)),
        ("--student-ffn", parse_student_ffn(ffn)),
        ("--student-heads", parse_student_heads(heads)),
    ):
        given.update({f"student.{name}": (flag, value) for name, value in fields.items()})
    return given


MINUTES_HELP = (
    "Training time budget in minutes (sets max_seconds; the step cap is lifted, so time decides). "
    "What a longer budget buys: docs/distill_results.md."
)


def minutes_flag_values(minutes: float | None) -> dict[str, tuple[str, Any]]:
    """`--minutes N` as config values: max_seconds = 60 N, and no step cap before it."""
    if minutes is None:
        return {}
    if not minutes > 0 or minutes != minutes or minutes == float("inf"):
        raise click.BadParameter(f"expected a positive number of minutes, got {minutes}", param_hint="--minutes")
    return {"max_seconds": ("--minutes", 60.0 * minutes), "steps": ("--minutes", 10_000_000)}
