"""`compress run`: distill -> export -> bench in one resumable command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from asdfd.cli._common import (
    MINUTES_HELP,
    minutes_flag_values,
    print_report_summary,
    show_progress,
    student_flag_help,
    student_flag_values,
    user_errors,
)
from asdfd.cli.options import (
    ConfigFlag,
    apply_flag_values,
    config_options,
    nested,
    parse_set_values,
    set_option,
    take_flag_values,
)
from asdfd.compressor.distill_config import DistillConfig
from asdfd.core.architectures import FAMILIES
from asdfd.core.config_file import load_config_file, merge_options
from asdfd.core.errors import ConfigError
from asdfd.export.export_config import ExportConfig
from asdfd.pipeline import RunConfig

RUN_FLAGS = [ConfigFlag("budget")]
"""RunConfig fields `compress run` offers as flags of their own."""
RUN_DISTILL_FLAGS = [
    ConfigFlag("lr"),
    ConfigFlag("device"),
    ConfigFlag("input_kind"),
    ConfigFlag("text_column"),
    ConfigFlag("label_column"),
    ConfigFlag("seed"),
]
"""DistillConfig fields `compress run` offers as flags (the rest: --set distill.<field>=...)."""
RUN_EXPORT_FLAGS = [ConfigFlag("quantize")]
FAST_DEFAULTS = {"": DistillConfig.for_budget("fast"), "--budget full": DistillConfig.for_budget("full")}

STUDENT_HELP = student_flag_help(FAST_DEFAULTS)


@click.command()
@click.option(
    "--teacher",
    type=click.Path(path_type=Path),
    default=None,
    help="Fine-tuned Hugging Face sequence classifier: a folder or a Hub id (org/name; the local cache first). "
    f"Families: {FAMILIES}. Required "
    "unless the config file names it.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Student artifact to write (a .onnx path); other outputs go to <out stem>.run/ beside it. Required "
    "unless the config file names it.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML/JSON run config (see examples/run_config.yaml); flags override it.",
)
@config_options(RunConfig, RUN_FLAGS, defaults={"": RunConfig()})
@config_options(ExportConfig, RUN_EXPORT_FLAGS, defaults={"": ExportConfig()})
@click.option(
    "--eval-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Labelled CSV/TSV for reporting accuracy and judging the int8 student against its fp32 self "
    "(never used to train).",
)
@click.option("--student-layers", default=None, help=STUDENT_HELP["layers"])
@click.option("--student-ffn", default=None, help=STUDENT_HELP["ffn"])
@click.option("--student-heads", default=None, help=STUDENT_HELP["heads"])
@config_options(DistillConfig, RUN_DISTILL_FLAGS, defaults=FAST_DEFAULTS)
@click.option("--minutes", type=float, default=None, help=MINUTES_HELP)
@set_option("distill.guess.steps=30 (sections: distill, export, bench)")
@click.option("--force", is_flag=True, help="Start over: redo every stage and overwrite earlier outputs.")
@click.option("--json", "as_json", is_flag=True, help="Print progress events and the result as JSON lines.")
@click.pass_context
def run(
    ctx: click.Context,
    teacher: Path | None,
    out: Path | None,
    config_file: Path | None,
    eval_file: Path | None,
    student_layers: str | None,
    student_ffn: str | None,
    student_heads: str | None,
    minutes: float | None,
    set_values: tuple[str, ...],
    force: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Distill TEACHER without data, export it to ONNX (validated), and report latency and quality.

    Re-running the same command resumes an interrupted run; finished stages are skipped unless --force.
    The resolved options are saved as <out stem>.run/run_config.json: `compress run --config` on that file
    repeats the run exactly.
    """
    quiet = (ctx.obj or {}).get("quiet", False) or as_json
    distill_given = {
        **student_flag_values(student_layers, student_ffn, student_heads),
        **minutes_flag_values(minutes),
        **take_flag_values(options, RUN_DISTILL_FLAGS),
    }
    export_given = take_flag_values(options, RUN_EXPORT_FLAGS)
    budget = take_flag_values(options, RUN_FLAGS).get("budget", ("", None))[1]
    with user_errors(out=out):
        from asdfd.pipeline import plan_run, run_pipeline

        file_options = load_config_file(config_file) if config_file else {}
        # Checked one by one against the preset, so a bad value is reported under the flag that gave it.
        apply_flag_values(DistillConfig.for_budget(budget or "fast"), distill_given)
        apply_flag_values(ExportConfig(), export_given)
        flags: dict[str, Any] = {
            "eval_file": str(eval_file) if eval_file else None,
            "budget": budget,
            "distill": _sections(distill_given),
            "export": _sections(export_given),
        }
        for path, (flag, value) in parse_set_values(set_values).items():
            section, _, rest = path.partition(".")
            if section not in ("distill", "export", "bench") or not rest:
                raise ConfigError(f"{flag}: --set takes distill.<field>, export.<field> or bench.<field>=VALUE")
            merge_options(flags.setdefault(section, {}), nested(rest, value))
        plan = plan_run(
            teacher, out, file_options=file_options, flag_options=flags, show_progress=not quiet and show_progress(ctx)
        )
        echo_event = (lambda event: click.echo(json.dumps(event, default=str))) if as_json else None
        result = run_pipeline(plan, force=force, on_event=echo_event)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "event": "result",
                    "paths": {k: str(v) for k, v in result.paths.items()},
                    "stages": result.stages,
                    "report": result.report.to_dict(),
                },
                default=str,
            )
        )
        return
    if not quiet:
        print_report_summary(result.report)
    for name, path in result.paths.items():
        click.echo(f"{name:>12}: {path}")


def _sections(given: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path, (_, value) in given.items():
        merge_options(merged, nested(path, value))
    return merged
