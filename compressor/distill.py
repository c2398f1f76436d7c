"""`distill(...)`: the public verb. Loads the teacher, runs the trainer with progress, checkpoints and
Ctrl-C handling, and writes the student as a normal Hugging Face folder plus `distill.json`.

The output folder appears only when complete (asdfd._io.atomic_dir); until then the run lives in the
hidden checkpoint sibling `.<out>.ckpt/`, from which `resume=True` continues.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from asdfd._io import atomic_dir, check_output_path, write_json_atomic
from asdfd.compressor.checkpoint import checkpoint_dir, load_checkpoint, remove_checkpoint, save_checkpoint
from asdfd.compressor.config import RUNTIME_ONLY_FIELDS, DistillConfig
from asdfd.compressor.devices import any_rank, broadcast_object, replica_digests, setup_runtime
from asdfd.compressor.diagnostics import eval_label_ids, eval_metrics, evaluate_texts
from asdfd.compressor.loop import DistillLoop
from asdfd.compressor.teacher import load_teacher
from asdfd.data import read_labelled_file
from asdfd.errors import ConfigError, OutputExistsError, TrainingDivergedError
from asdfd.heads import PRIMARY_METRIC, head_of
from asdfd.hub import resolve_model_dir
from asdfd.models import max_positions, read_classifier_config

__all__ = ["DistillResult", "distill"]

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


class _InterruptFlag:
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


def _versions() -> dict[str, str]:
    import transformers

    from asdfd import __version__

    return {
        "asdfd": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def _identity(config: dict, teacher_dir: Path) -> dict:
    """What a resume must match: the options that change the result, and the teacher (JSON round trip, so that
    tuples and lists compare equal to what was stored).

    Args:
        config: `DistillConfig.to_dict()`, or the config a finished student's distill.json records.
    """
    payload = {"config": _comparable(config), "teacher": str(Path(teacher_dir).resolve())}
    return json.loads(json.dumps(payload, default=str))


def _identity_of_summary(out_dir: Path) -> dict:
    summary = json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    return _identity(summary.get("config", {}), Path(summary.get("teacher", "")))


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


def _check_output(
    out_dir: Path, identity: dict, resume: bool, force: bool, inputs: tuple[Path, str | Path | None]
) -> DistillResult | None:
    """Before any work: the finished student a resume finds (same options), else None once `out_dir` may be
    written (not over an input, not over another folder unless `force`)."""
    if resume and (out_dir / SUMMARY_FILE).is_file() and not force:
        _check_same_run(_identity_of_summary(out_dir), identity, str(out_dir))
        logger.info("%s is already finished; nothing to resume", out_dir)
        return _finished_result(out_dir)
    if resume and out_dir.exists() and not force:
        raise OutputExistsError(f"{out_dir} exists but holds no finished student: pass --force to overwrite it")
    check_output_path(out_dir, force=force, inputs=tuple(Path(p) for p in inputs if p is not None))
    return None


def _resume_state(ckpt: Path, identity: dict, world_size: int) -> dict | None:
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


def _finished_result(out_dir: Path) -> DistillResult:
    summary = json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    return DistillResult(
        student_dir=out_dir,
        metrics=summary.get("metrics", {}),
        config=summary.get("config", {}),
        student_layers=summary.get("student_layers", []),
    )


def distill(
    teacher_dir: str | Path,
    out_dir: str | Path,
    config: DistillConfig = DistillConfig(),
    *,
    eval_file: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    on_progress: Callable[[dict], None] | None = None,
) -> DistillResult:
    """Distill a fine-tuned BERT-family classifier into a shallower student without any data (AS-DFD).

    Example:
        >>> from asdfd.compressor import DistillConfig, distill
        >>> result = distill("artifacts/teacher-sst2", "artifacts/student", DistillConfig.for_budget("fast"),
        ...                  eval_file="data/sst2/dev.tsv")
        >>> result.metrics["eval_accuracy"]

    Args:
        eval_file: labelled CSV/TSV, for reported accuracy only (never used to train or to select).
        resume: continue from the checkpoint of an interrupted run; a finished `out_dir` is returned as is.
        force: overwrite an existing `out_dir`.
        on_progress: called with {"stage", "step", "total", losses and agreements} at each log interval.

    Raises:
        ModelLoadError, ConfigError, DataError, OutputExistsError, TrainingDivergedError (one-line messages).
    """
    teacher_dir, out_dir = resolve_model_dir(teacher_dir), Path(out_dir)  # a Hub id: its cached snapshot
    identity = _identity(config.to_dict(), teacher_dir)
    teacher_config = read_classifier_config(teacher_dir)
    positions = max_positions(teacher_config)
    if config.max_length > positions:
        raise ConfigError(
            f"--max-length {config.max_length} is beyond the teacher's {positions} positions: pass at most {positions}"
        )
    if config.eval_max_length > positions:  # eval texts are only truncated to what the teacher can read
        config = dataclasses.replace(config, eval_max_length=positions)
    evaluation = None
    if eval_file is not None:
        texts = read_labelled_file(eval_file, text_column=config.text_column, label_column=config.label_column)
        targets = eval_label_ids(texts.labels, teacher_config.get("id2label") or {}, eval_file, head_of(teacher_config))
        evaluation = (texts.texts, targets)
    runtime = setup_runtime(config.device, config.precision, config.threads)
    # The output location is rank 0's (other nodes need not see it): rank 0 checks it and tells the others.
    finished = _check_output(out_dir, identity, resume, force, (teacher_dir, eval_file)) if runtime.is_main else None
    finished = broadcast_object(finished, runtime)
    if finished is not None:
        return finished
    teacher = load_teacher(teacher_dir, runtime.device, config.input_kind)
    trainer = DistillLoop(teacher, config, runtime)
    ckpt = checkpoint_dir(out_dir)
    # Rank 0 reads and checks the checkpoint (it lives beside the output) and hands it to the other ranks.
    state = _resume_state(ckpt, identity, runtime.world_size) if resume and runtime.is_main else None
    state = broadcast_object(state, runtime)
    history: list[dict] = []
    if state is not None:
        trainer.load_state_dict(state)
        history = json.loads(state.get("history") or "[]")
        logger.info("resuming from step %d (checkpoint %s)", trainer.step, ckpt)
    elif resume:
        logger.info("no checkpoint in %s: starting from the beginning", ckpt)
    elif ckpt.exists() and runtime.is_main:
        logger.warning("discarding the checkpoint of an earlier run in %s (use --resume to continue it)", ckpt)
        remove_checkpoint(ckpt)

    started = time.perf_counter()
    trainer.build_heldouts()
    run = _Run(trainer, ckpt, identity, on_progress)
    run.history = history  # the evaluations before an interruption survive the resume
    run.execute()
    metrics = run.final_metrics(evaluation)
    metrics["total_seconds"] = round(time.perf_counter() - started, 1)
    metrics["input_kind"] = "pair" if teacher.pairs else "single"  # the quality estimate is for single texts only
    steps_per_second = trainer.step / max(trainer.train_seconds, 1e-9)
    throughput = {  # global figures: every rank takes each step, each on its own batch
        "steps_per_second": round(steps_per_second, 3),
        "samples_per_second": round(steps_per_second * config.batch_size * runtime.world_size, 1),
        "effective_batch": config.batch_size * runtime.world_size,
    }
    metrics.update(throughput)
    digests = replica_digests(trainer.student, runtime)
    if runtime.world_size > 1:
        metrics["replicas_in_sync"] = len(set(digests)) == 1
        if not metrics["replicas_in_sync"]:
            logger.error("the ranks' students differ after training (weights sha256 %s): please report this", digests)
    summary = {
        "teacher": str(teacher_dir),
        "student_layers": trainer.layers,
        "config": config.to_dict(),
        "seed": config.seed,
        "device": str(runtime.device),
        "precision": runtime.precision,
        "world_size": runtime.world_size,
        "input_kind": "pair" if teacher.pairs else "single",
        "versions": _versions(),
        "timings": {
            "train_seconds": metrics["train_seconds"],
            "total_seconds": metrics["total_seconds"],
            "seconds_per_step": round(metrics["train_seconds"] / max(1, trainer.step), 3),
            **throughput,
        },
        "replica_weights_sha256": digests,
        "metrics": metrics,
        "history": run.history,
        "eval_file": str(eval_file) if eval_file is not None else None,
        "note": "eval_file accuracy is for information only: never used to train or select checkpoints",
    }
    if runtime.is_main:
        trainer.student.eval()
        with atomic_dir(out_dir) as tmp:
            trainer.student.save_pretrained(tmp, safe_serialization=True)
            teacher.tokenizer.save_pretrained(tmp)
            write_json_atomic(tmp / SUMMARY_FILE, summary)
        remove_checkpoint(ckpt)
        logger.info("student written to %s", out_dir)
    if runtime.world_size > 1:
        torch.distributed.barrier()
    return DistillResult(student_dir=out_dir, metrics=metrics, config=config.to_dict(), student_layers=trainer.layers)


class _Run:
    """Drives the trainer: stages, progress bar, logging, periodic checkpoints, Ctrl-C and NaN handling."""

    def __init__(self, trainer: DistillLoop, ckpt: Path, identity: dict, on_progress) -> None:
        self.trainer, self.ckpt, self.identity, self.on_progress = trainer, ckpt, identity, on_progress
        self.config = trainer.config
        self.interrupt = _InterruptFlag()
        self.history: list[dict] = []
        self.latest: dict = {}
        self.last_checkpoint_step: int | None = None
        self.show = self.config.show_progress and trainer.runtime.is_main

    def save(self) -> None:
        if not self.trainer.runtime.is_main:
            return
        state = self.trainer.state_dict()
        state["identity"] = json.dumps(self.identity, default=str)
        state["history"] = json.dumps(self.history, default=str)
        state["world_size"] = self.trainer.runtime.world_size
        save_checkpoint(self.ckpt, state)
        self.last_checkpoint_step = self.trainer.step

    def report(self, stage: str, step: int, total: int, figures: dict) -> None:
        self.latest.update({k: v for k, v in figures.items() if isinstance(v, (int, float))})
        payload = {
            "stage": stage,
            "step": step,
            "total": total,
            **self.latest,
            "train_seconds": round(self.trainer.train_seconds, 1),
            "eta_s": round(self._eta(step, total), 1),
        }
        if self.trainer.runtime.is_main:
            logger.info(
                "%s %d/%d %s",
                stage,
                step,
                total,
                " ".join(f"{k}={v:.4g}" for k, v in payload.items() if isinstance(v, float)),
            )
            if self.on_progress is not None:
                self.on_progress(payload)

    def _eta(self, step: int, total: int) -> float:
        """Seconds of training left: by steps at the current pace, capped by the time budget."""
        seconds = self.trainer.train_seconds
        eta = (total - step) * seconds / step if step else float("inf")
        if self.config.max_seconds is not None:
            eta = min(eta, max(0.0, self.config.max_seconds - seconds))
        return eta if eta != float("inf") else -1.0

    def _check_interrupt(self) -> None:
        if any_rank(self.interrupt.requested, self.trainer.runtime):  # all ranks stop at the same step
            self.save()
            raise KeyboardInterrupt

    def execute(self) -> None:
        trainer, config = self.trainer, self.config
        with self.interrupt.installed():
            try:
                if config.steps > 0:
                    self._stage1()
                    self._train()
            except KeyboardInterrupt:
                if self.trainer.runtime.is_main and not self.interrupt.requested and self._consistent:
                    self.save()
                logger.warning(
                    "interrupted at step %d; checkpoint in %s: run again with --resume", trainer.step, self.ckpt
                )
                raise
            except TrainingDivergedError as err:
                kept = (
                    f"the last good checkpoint (step {self.last_checkpoint_step}) is kept in {self.ckpt}"
                    if self.last_checkpoint_step is not None
                    else "no checkpoint was written yet"
                )
                raise TrainingDivergedError(f"{err}; {kept}") from None

    _consistent = True

    def _stage1(self) -> None:
        """The synthesizer's preparation (AS-DFD's stage 1: guessing the pool), at most half the time budget."""
        trainer, config = self.trainer, self.config
        synthesizer = trainer.synthesizer
        left = synthesizer.prepare_steps()
        if not left:
            return
        done = synthesizer.prepared_steps
        total = left + done
        budget = None if config.max_seconds is None else 0.5 * config.max_seconds
        with tqdm(total=total, initial=done, desc="stage 1: guessing", disable=not self.show, leave=False) as bar:
            while synthesizer.prepare_steps():
                spent = budget is not None and trainer.train_seconds >= budget and synthesizer.can_start()
                if any_rank(spent, trainer.runtime):
                    logger.warning("preparation stopped after %d of %d batches: half the budget is spent", done, total)
                    break
                self._consistent = False
                stats = trainer.prepare_step()
                self._consistent = True
                done += 1
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items() if k in ("guess_confidence", "norm_ratio")})
                self.report("stage1", done, total, stats)
                self._check_interrupt()
        self.save()

    def _train(self) -> None:
        trainer, config = self.trainer, self.config
        stage = trainer.synthesizer.stage
        bar = tqdm(total=config.steps, initial=trainer.step, desc=f"{stage}: distilling", disable=not self.show)
        with bar:  # closed on errors too, so a one-line error starts on a line of its own
            self._train_steps(bar)
        if trainer.over_budget() and trainer.step < config.steps:
            logger.info(
                "time budget of %.0f s reached at step %d of %d", config.max_seconds, trainer.step, config.steps
            )

    def _train_steps(self, bar: tqdm) -> None:
        trainer, config = self.trainer, self.config
        stage = trainer.synthesizer.stage
        while trainer.step < config.steps and not trainer.over_budget():
            self._consistent = False
            losses = trainer.train_step()
            self._consistent = True
            bar.update(1)
            postfix = {"loss": f"{losses['loss']:.4f}", "agree": self.latest.get("heldout_random_agreement", "-")}
            if config.max_seconds is not None:
                postfix["budget_left"] = f"{max(0.0, config.max_seconds - trainer.train_seconds):.0f}s"
            bar.set_postfix(postfix)
            step = trainer.step
            if step % config.eval_every == 0:
                metrics = trainer.evaluate()
                self.history.append({"step": step, "train_seconds": round(trainer.train_seconds, 1), **metrics})
                self.latest.update({k: v for k, v in metrics.items() if isinstance(v, float)})
            if step % config.log_every == 0 or step % config.eval_every == 0:
                self.report(stage, step, config.steps, losses)
            if step % config.checkpoint_every == 0:
                self.save()
            self._check_interrupt()

    def final_metrics(self, evaluation: tuple[list, list] | None) -> dict:
        trainer = self.trainer
        metrics = {"steps": trainer.step, "train_seconds": round(trainer.train_seconds, 1), **trainer.evaluate()}
        metrics.update(trainer.synthesizer.summary())
        if evaluation is not None:
            texts, labels = evaluation

            def logits_of(model: torch.nn.Module) -> np.ndarray:
                tokenizer, length = trainer.teacher.tokenizer, self.config.eval_max_length
                return evaluate_texts(model, tokenizer, texts, trainer.runtime, max_length=length).double().numpy()

            student, teacher = logits_of(trainer.student), logits_of(trainer.teacher.model)
            metrics.update(eval_metrics(trainer.teacher.head.kind, student, teacher, np.asarray(labels)))
            metrics["eval_rows"] = len(texts)
            name = PRIMARY_METRIC[trainer.teacher.head.kind]
            logger.info(
                "information only: student %s %.4f, teacher %.4f on %d rows",
                name,
                metrics[f"eval_{name}"],
                metrics[f"teacher_eval_{name}"],
                len(texts),
            )
        return metrics
