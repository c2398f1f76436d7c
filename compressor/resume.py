"""What makes a run resumable and its output trustworthy: the run's identity (options + teacher), the checks
before any work (output folder, checkpoint of the same run), Ctrl-C as a flag, and the finished result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asdfd.compressor.checkpoint import load_checkpoint
from asdfd.compressor.distill_config import RUNTIME_ONLY_FIELDS
from asdfd.core._io import check_output_path
from asdfd.core.errors import ConfigError, OutputExistsError

__all__ = [
    "SUMMARY_FILE",
    "DistillResult",
    "InterruptFlag",
    "run_identity",
    "check_output",
    "resume_state",
    "finished_result",
    "versions",
]

logger = logging.getLogger(__name__)

SUMMARY_FILE = "distill.json"


@dataclass
class DistillResult:
    """What `distill` produced: the student folder and its final metrics (also in `distill.json`)."""

    student_dir: Path
    metrics: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    student_layers: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "student_dir": str(self.student_dir),
            "student_layers": self.student_layers,
            "metrics": self.metrics,
            "config": self.config,
        }


class InterruptFlag:
    """The first Ctrl-C or SIGTERM sets a flag the loop checks between steps (so the checkpoint is consistent); a
    second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
            logger.warning("%s: saving a checkpoint after this step (once more to stop at once)", name)

        for number in previous:
            signal.signal(number, handler)
        try:
            yield
        finally:
            for number, old in previous.items():
                signal.signal(number, old)


def _comparable(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in RUNTIME_ONLY_FIELDS}


def versions() -> dict[str, str]:
    import torch
    import transformers

    from asdfd import __version__

    return {
        "asdfd": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def run_identity(config: dict, teacher_dir: Path) -> dict:
    """What a resume must match: the options that change the result, and the teacher (JSON round trip, so that
    tuples and lists compare equal to what was stored).

    Args:
        config: `DistillConfig.to_dict()`, or the config a finished student's distill.json records.
    """
    payload = {"config": _comparable(config), "teacher": str(Path(teacher_dir).resolve())}
    return json.loads(json.dumps(payload, default=str))


def _identity_of_summary(out_dir: Path) -> dict:
    summary = json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    return run_identity(summary.get("config", {}), Path(summary.get("teacher", "")))


def _check_same_run(saved: dict, identity: dict, what: str) -> None:
    """Refuse to resume `what` (a checkpoint or a finished student) made with another teacher or other options."""
    if saved == identity:
        return
    if saved.get("teacher") != identity.get("teacher"):
        raise ConfigError(
            f"{what} was distilled from {saved.get('teacher')}, not {identity.get('teacher')}: "
            "resume with the same teacher, or drop --resume (and pass --force) to start over"
        )
    keys = set(saved["config"]) | set(identity["config"])
    changed = sorted(k for k in keys if saved["config"].get(k) != identity["config"].get(k))
    raise ConfigError(
        f"{what} was made with other options ({', '.join(changed)}): resume with the same options, "
        "or drop --resume (and pass --force) to start over"
    )


def check_output(
    out_dir: Path, identity: dict, resume: bool, force: bool, inputs: tuple[Path, str | Path | None]
) -> DistillResult | None:
    """Before any work: the finished student a resume finds (same options), else None once `out_dir` may be
    written (not over an input, not over another folder unless `force`)."""
    if resume and (out_dir / SUMMARY_FILE).is_file() and not force:
        _check_same_run(_identity_of_summary(out_dir), identity, str(out_dir))
        logger.info("%s is already finished; nothing to resume", out_dir)
        return finished_result(out_dir)
    if resume and out_dir.exists() and not force:
        raise OutputExistsError(f"{out_dir} exists but holds no finished student: pass --force to overwrite it")
    check_output_path(out_dir, force=force, inputs=tuple(Path(p) for p in inputs if p is not None))
    return None


def resume_state(ckpt: Path, identity: dict, world_size: int) -> dict | None:
    """The checkpoint to continue from, if any, once it is known to be this run's (same options, teacher and
    number of processes)."""
    state = load_checkpoint(ckpt)
    if state is None:
        return None
    _check_same_run(json.loads(state["identity"]), identity, f"the checkpoint in {ckpt}")
    saved_world = int(state.get("world_size", 1))
    if saved_world != world_size:
        raise ConfigError(
            f"the checkpoint in {ckpt} was made by {saved_world} process(es) and this run has {world_size}: "
            "resume with the same torchrun --nnodes/--nproc-per-node (the effective batch depends on it), "
            "or drop --resume (and pass --force) to start over"
        )
    return state


def finished_result(out_dir: Path) -> DistillResult:
    summary = json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    return DistillResult(
        student_dir=out_dir,
        metrics=summary.get("metrics", {}),
        config=summary.get("config", {}),
        student_layers=summary.get("student_layers", []),
    )
