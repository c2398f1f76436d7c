"""A distillation run's record around the loop: checkpoints, progress lines and callbacks, the evaluation history,
Ctrl-C and NaN handling, and what it reports at the end (metrics and `distill.json`)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from asdfd.compressor.checkpoint import remove_checkpoint, save_checkpoint
from asdfd.compressor.devices import any_rank, broadcast_object, replica_digests
from asdfd.compressor.diagnostics import eval_label_ids, eval_metrics, evaluate_texts
from asdfd.compressor.distill_config import DistillConfig
from asdfd.compressor.resume import InterruptFlag, resume_state, versions
from asdfd.core.data import read_labelled_file, require_text_shape
from asdfd.core.errors import TrainingDivergedError
from asdfd.core.heads import PRIMARY_METRIC, head_of

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor.loop import DistillLoop

__all__ = ["RunLog", "read_evaluation", "final_metrics", "run_summary"]

logger = logging.getLogger(__name__)


class RunLog:
    """A run's bookkeeping around the loop: checkpoints, progress lines and callbacks, evaluation history, Ctrl-C."""

    def __init__(self, trainer: DistillLoop, ckpt: Path, identity: dict, on_progress: Callable | None) -> None:
        self.trainer, self.ckpt, self.identity, self.on_progress = trainer, ckpt, identity, on_progress
        self.interrupt = InterruptFlag()
        self.history: list[dict] = []
        self.latest: dict = {}
        self.last_checkpoint_step: int | None = None
        self.show = trainer.config.show_progress and trainer.placement.is_main
        self.in_step = False
        """True while a step or a preparation unit runs (a checkpoint then would not be consistent)."""

    def restore(self, resume: bool) -> None:
        """Continue from this run's checkpoint (rank 0 reads and checks it, and hands it to the other ranks)."""
        placement = self.trainer.placement
        state = resume_state(self.ckpt, self.identity, placement.world_size) if resume and placement.is_main else None
        state = broadcast_object(state, placement)
        if state is not None:
            self.trainer.load_state_dict(state)
            self.history = json.loads(state.get("history") or "[]")  # the evaluations before the interruption
            logger.info("resuming from step %d (checkpoint %s)", self.trainer.step, self.ckpt)
        elif resume:
            logger.info("no checkpoint in %s: starting from the beginning", self.ckpt)
        elif self.ckpt.exists() and placement.is_main:
            logger.warning("discarding the checkpoint of an earlier run in %s (use --resume to continue it)", self.ckpt)
            remove_checkpoint(self.ckpt)

    def consistent(self, work: Callable[..., Any], *args: Any) -> Any:
        """`work(*args)`, marked as a step in progress."""
        self.in_step = True
        result = work(*args)
        self.in_step = False
        return result

    def save(self) -> None:
        if not self.trainer.placement.is_main:
            return
        state = self.trainer.state_dict()
        state["identity"] = json.dumps(self.identity, default=str)
        state["history"] = json.dumps(self.history, default=str)
        state["world_size"] = self.trainer.placement.world_size
        save_checkpoint(self.ckpt, state)
        self.last_checkpoint_step = self.trainer.step

    def evaluation(self, step: int, metrics: dict) -> None:
        self.history.append({"step": step, "train_seconds": round(self.trainer.train_seconds, 1), **metrics})
        self.latest.update({k: v for k, v in metrics.items() if isinstance(v, float)})

    def report(self, stage: str, step: int, total: int, figures: dict, *, training: bool = False) -> None:
        """A progress line (rank 0) and the `on_progress` callback; a `training` step under a time budget is told
        against the budget (the step cap is only a guard then)."""
        self.latest.update({k: v for k, v in figures.items() if isinstance(v, (int, float))})
        payload = {
            "stage": stage,
            "step": step,
            "total": total,
            **self.latest,
            "train_seconds": round(self.trainer.train_seconds, 1),
            "eta_s": round(self._eta(step, total), 1),
        }
        if self.trainer.placement.is_main:
            numbers = " ".join(f"{k}={v:.4g}" for k, v in payload.items() if isinstance(v, float))
            budget = self.trainer.config.max_seconds
            if budget is not None and training:  # the time budget stops the run, not the step cap
                logger.info(
                    "%s step %d, %.0f/%.0f s of the time budget %s",
                    stage,
                    step,
                    payload["train_seconds"],
                    budget,
                    numbers,
                )
            else:
                logger.info("%s %d/%d %s", stage, step, total, numbers)
            if self.on_progress is not None:
                self.on_progress(payload)

    def _eta(self, step: int, total: int) -> float:
        """Seconds of training left: by steps at the current pace, capped by the time budget."""
        seconds, max_seconds = self.trainer.train_seconds, self.trainer.config.max_seconds
        eta = (total - step) * seconds / step if step else float("inf")
        if max_seconds is not None:
            eta = min(eta, max(0.0, max_seconds - seconds))
        return eta if eta != float("inf") else -1.0

    def check_interrupt(self) -> None:
        if any_rank(self.interrupt.requested, self.trainer.placement):  # all ranks stop at the same step
            self.save()
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def on_failure(self) -> Iterator[None]:
        """Ctrl-C: a checkpoint (when consistent) and the command to resume; NaN: say which checkpoint is kept."""
        try:
            yield
        except KeyboardInterrupt:
            if self.trainer.placement.is_main and not self.interrupt.requested and not self.in_step:
                self.save()
            logger.warning(
                "interrupted at step %d; checkpoint in %s: run again with --resume", self.trainer.step, self.ckpt
            )
            raise
        except TrainingDivergedError as err:
            kept = (
                f"the last good checkpoint (step {self.last_checkpoint_step}) is kept in {self.ckpt}"
                if self.last_checkpoint_step is not None
                else "no checkpoint was written yet"
            )
            raise TrainingDivergedError(f"{err}; {kept}") from None


def read_evaluation(
    eval_file: str | Path | None, config: DistillConfig, teacher_config: dict[str, Any]
) -> tuple[list[str], list] | None:
    """(texts, targets) of the eval file, or None (for information only: never trains or selects)."""
    if eval_file is None:
        return None
    texts = read_labelled_file(eval_file, text_column=config.text_column, label_column=config.label_column)
    require_text_shape(texts.texts, config.input_kind, config.text_column, eval_file)
    targets = eval_label_ids(texts.labels, teacher_config.get("id2label") or {}, eval_file, head_of(teacher_config))
    return texts.texts, targets


def final_metrics(trainer: DistillLoop, evaluation: tuple[list, list] | None) -> dict[str, Any]:
    metrics = {
        "method": trainer.config.method,
        "student_layers": list(trainer.layers),
        "steps": trainer.step,
        "train_seconds": round(trainer.train_seconds, 1),
        **trainer.evaluate(final=True),
    }
    if evaluation is not None:
        texts, labels = evaluation
        teacher, length = trainer.teacher, trainer.config.eval_max_length

        def logits_of(model: torch.nn.Module) -> np.ndarray:
            return (
                evaluate_texts(model, teacher.tokenizer, texts, trainer.placement, max_length=length).double().numpy()
            )

        metrics.update(
            eval_metrics(teacher.head.kind, logits_of(trainer.student), logits_of(teacher.model), np.asarray(labels))
        )
        metrics["eval_rows"] = len(texts)
        name = PRIMARY_METRIC[teacher.head.kind]
        logger.info(
            "information only: student %s %.4f, teacher %.4f on %d rows",
            name,
            metrics[f"eval_{name}"],
            metrics[f"teacher_eval_{name}"],
            len(texts),
        )
    metrics["input_kind"] = "pair" if trainer.teacher.pairs else "single"  # what the quality estimate may vouch for
    metrics["head"] = trainer.teacher.head.kind
    return metrics


def run_summary(
    trainer: DistillLoop, teacher_dir: Path, metrics: dict, history: list[dict], eval_file: str | Path | None
) -> dict[str, Any]:
    """distill.json: the config the run used, its figures and where they come from. Updates `metrics`."""
    config, placement = trainer.config, trainer.placement
    steps_per_second = trainer.step / max(trainer.train_seconds, 1e-9)
    throughput = {  # global figures: every rank takes each step, each on its own batch
        "steps_per_second": round(steps_per_second, 3),
        "samples_per_second": round(steps_per_second * config.batch_size * placement.world_size, 1),
        "effective_batch": config.batch_size * placement.world_size,
    }
    metrics.update(throughput)
    digests = replica_digests(trainer.student, placement)
    if placement.world_size > 1:
        metrics["replicas_in_sync"] = len(set(digests)) == 1
        if not metrics["replicas_in_sync"]:
            logger.error("the ranks' students differ after training (weights sha256 %s): please report this", digests)
    return {
        "teacher": str(teacher_dir),
        "student_layers": trainer.layers,
        "config": config.to_dict(),
        "seed": config.seed,
        "device": str(placement.device),
        "precision": placement.precision,
        "world_size": placement.world_size,
        "input_kind": metrics["input_kind"],
        "versions": versions(),
        "timings": {
            "train_seconds": metrics["train_seconds"],
            "total_seconds": metrics["total_seconds"],
            "seconds_per_step": round(metrics["train_seconds"] / max(1, trainer.step), 3),
            **throughput,
        },
        "replica_weights_sha256": digests,
        "metrics": metrics,
        "history": history,
        "eval_file": str(eval_file) if eval_file is not None else None,
        "note": "eval_file accuracy is for information only: never used to train or select checkpoints",
    }
