"""`distill(...)`: the public verb and the loop it runs, top to bottom.

    config  = resolve_config(config, teacher)             # once: lengths, eval length; distill.json records it
    prepare = synthesizer.prepare()                        # units of work before training (AS-DFD: its pool)
    for each step:
        batch   = synthesizer.next_batch(step)             # ids or embeddings + mask
        loss    = KD(T(batch), S(batch)) + w_h·hidden MSE + synthesizer.extra_loss(...)
                  (KD by the teacher's head: τ²·KL of softmaxes, per-label binary KL, or score MSE)
        student step (AdamW, lr = learning_rate(progress)); synthesizer.after_step(step)
        evaluate / log / checkpoint every so many steps

`DistillLoop` owns the mutable state (student, optimiser, RNG, the synthesizer's state); `state_dict()`
captures it so a resumed run reproduces an uninterrupted one exactly on CPU (same seed, no time limit).
The output folder appears only when complete (asdfd.core._io.atomic_dir); until then the run lives in the
hidden checkpoint sibling `.<out>.ckpt/`, from which `resume=True` continues.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from asdfd.compressor.checkpoint import checkpoint_dir, remove_checkpoint
from asdfd.compressor.devices import (
    Placement,
    all_reduce_mean,
    any_rank,
    broadcast_object,
    broadcast_parameters,
    max_over_ranks,
    setup_placement,
)
from asdfd.compressor.diagnostics import HeldOut, evaluate_heldout, predict_logits
from asdfd.compressor.distill_config import DistillConfig, StudentConfig
from asdfd.compressor.frozen_teacher import Teacher, load_teacher
from asdfd.compressor.layer_choice import choose_student_layers
from asdfd.compressor.losses import hidden_mse_loss
from asdfd.compressor.probes import probe_inputs
from asdfd.compressor.resume import SUMMARY_FILE, DistillResult, check_output, run_identity
from asdfd.compressor.run_log import RunLog, final_metrics, read_evaluation, run_summary
from asdfd.compressor.student import build_student
from asdfd.compressor.synthesis import SynthContext, make_synthesizer
from asdfd.compressor.synthesis.tokens import candidate_token_ids, vocabulary_rank_weights
from asdfd.core._io import atomic_dir, write_json_atomic
from asdfd.core.architectures import architecture_of
from asdfd.core.config_file import as_path
from asdfd.core.errors import ConfigError, TrainingDivergedError
from asdfd.core.hub import resolve_model_dir
from asdfd.core.model_folder import input_kind, max_positions, read_classifier_config

__all__ = [
    "DistillResult",
    "distill",
    "resolve_config",
    "check_student_shape",
    "DistillLoop",
    "learning_rate",
    "run_progress",
    "distill_bar",
    "advance_bar",
]

logger = logging.getLogger(__name__)

FUSED_ADAMW = ("cpu", "cuda")
"""Devices torch has a fused AdamW kernel for."""


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
    """Distill a fine-tuned BERT-family classifier into a shallower student without any data.

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
    out_dir, eval_file = as_path(out_dir, "out"), as_path(eval_file, "eval_file", optional=True)
    teacher_dir = resolve_model_dir(as_path(teacher_dir, "teacher"))  # a Hub id: its cached snapshot
    teacher_config = read_classifier_config(teacher_dir)
    config = resolve_config(config, teacher_config)  # the one config of this run: distill.json records it
    identity = run_identity(config.to_dict(), teacher_dir)
    evaluation = read_evaluation(eval_file, config, teacher_config)
    placement = setup_placement(config.device, config.precision, config.threads)
    # The output location is rank 0's (other nodes need not see it): rank 0 checks it and tells the others.
    finished = check_output(out_dir, identity, resume, force, (teacher_dir, eval_file)) if placement.is_main else None
    if (finished := broadcast_object(finished, placement)) is not None:
        return finished
    teacher = load_teacher(teacher_dir, placement.device, config.input_kind)
    trainer = DistillLoop(teacher, config, placement)
    log = RunLog(trainer, checkpoint_dir(out_dir), identity, on_progress)
    log.restore(resume)
    started = time.perf_counter()
    trainer.build_heldouts()
    _train(trainer, log)
    metrics = final_metrics(trainer, evaluation)
    if trainer.layer_choice is not None:  # the teacher's choice of layers, every set's scores
        metrics["layer_choice"] = trainer.layer_choice
    metrics["total_seconds"] = round(time.perf_counter() - started, 1)
    summary = run_summary(trainer, teacher_dir, metrics, log.history, eval_file)
    if placement.is_main:
        trainer.student.eval()
        with atomic_dir(out_dir) as tmp:
            trainer.student.save_pretrained(tmp, safe_serialization=True)
            teacher.tokenizer.save_pretrained(tmp)
            write_json_atomic(tmp / SUMMARY_FILE, summary)
        remove_checkpoint(log.ckpt)
        logger.info("student written to %s", out_dir)
    if placement.world_size > 1:
        torch.distributed.barrier()
    return DistillResult(student_dir=out_dir, metrics=metrics, config=config.to_dict(), student_layers=trainer.layers)


def _train(trainer: DistillLoop, log: RunLog) -> None:
    """The synthesizer's preparation (at most half the time budget), then the student steps; checkpoints,
    progress, Ctrl-C (a checkpoint, then KeyboardInterrupt) and NaN (the last good checkpoint is kept)."""
    config, synthesizer = trainer.config, trainer.synthesizer
    with log.interrupt.installed(), log.on_failure():
        if config.steps == 0:
            return
        units, bar = synthesizer.prepare(), None
        while (unit := log.consistent(trainer.timed, next, units, None)) is not None:
            stage, step, total = unit.pop("stage", "prepare"), unit.pop("step"), unit.pop("total")
            bar = bar or tqdm(
                total=total, initial=step - 1, desc=f"{stage}: preparing", disable=not log.show, leave=False
            )
            bar.update(1)
            log.report(stage, step, total, unit)
            log.check_interrupt()
            half = config.max_seconds is not None and trainer.train_seconds >= 0.5 * config.max_seconds
            if any_rank(half, trainer.placement):
                logger.warning("preparation stopped after %d of %d units: half the time budget is spent", step, total)
                break
        if bar is not None:  # some preparation ran: checkpoint it
            bar.close()
            log.save()
        bar = distill_bar(trainer, f"{synthesizer.stage}: distilling", log.show)
        with bar:  # closed on errors too, so a one-line error starts on a line of its own
            while trainer.step < config.steps and not trainer.over_budget():
                losses = log.consistent(trainer.train_step)
                advance_bar(bar, trainer)
                postfix = {"loss": f"{losses['loss']:.4f}", "agree": log.latest.get("heldout_random_agreement", "-")}
                if config.max_seconds is not None:  # the bar counts seconds: the steps beside it
                    postfix = {"step": trainer.step, **postfix}
                bar.set_postfix(postfix)
                step = trainer.step
                if step % config.eval_every == 0:
                    log.evaluation(step, trainer.evaluate())
                if step % config.log_every == 0 or step % config.eval_every == 0:
                    log.report(synthesizer.stage, step, config.steps, losses, training=True)
                if step % config.checkpoint_every == 0:
                    log.save()
                log.check_interrupt()
        if trainer.over_budget() and trainer.step < config.steps:
            logger.info(
                "time budget of %.0f s reached at step %d of %d", config.max_seconds, trainer.step, config.steps
            )


def distill_bar(trainer: DistillLoop, desc: str, show: bool) -> tqdm:
    """The distillation's progress bar, against what will stop the run: the steps, or under a time budget the
    budget's seconds (the step cap is then only a guard), so its percentage and time left are the run's."""
    config = trainer.config
    if config.max_seconds is None:
        return tqdm(total=config.steps, initial=trainer.step, desc=desc, disable=not show, unit="step")
    return tqdm(
        total=round(config.max_seconds),
        initial=round(min(trainer.train_seconds, config.max_seconds)),
        desc=desc,
        disable=not show,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of the time budget "
        "[{elapsed}<{remaining}{postfix}]",
    )


def advance_bar(bar: tqdm, trainer: DistillLoop) -> None:
    """One step done: the bar moves by a step, or by the training seconds it took under a time budget."""
    config = trainer.config
    if config.max_seconds is None:
        bar.update(1)
        return
    bar.update(round(min(trainer.train_seconds, config.max_seconds)) - bar.n)


def resolve_config(config: DistillConfig, teacher_config: dict[str, Any]) -> DistillConfig:
    """The run's config for this teacher: its task shape, pair lengths and depth for a pair teacher, the eval length
    capped at its positions.

    Raises:
        ConfigError: `max_length` beyond the teacher's positions.
    """
    check_student_shape(config.student, teacher_config)
    positions = max_positions(teacher_config)
    if config.max_length > positions:
        raise ConfigError(
            f"--max-length {config.max_length} is beyond the teacher's {positions} positions: pass at most {positions}"
        )
    kind = input_kind(teacher_config, config.input_kind)
    if kind == "pair":  # every synthesizer and held-out set reads min/max_length: pairs get their own lengths
        longest = min(config.pair_max_length, positions)
        config = dataclasses.replace(config, min_length=min(config.pair_min_length, longest), max_length=longest)
        if config.student.pair_depth_fraction is not None:  # and their own depth
            student = dataclasses.replace(config.student, depth_fraction=config.student.pair_depth_fraction)
            config = dataclasses.replace(config, student=student)
    return dataclasses.replace(config, input_kind=kind, eval_max_length=min(config.eval_max_length, positions))


def check_student_shape(student: StudentConfig, teacher_config: dict[str, Any]) -> None:
    """The student's layers against the teacher's depth in config.json, before any model is loaded or built (a
    count of 10**20 layers must not become a list of them).

    Raises:
        ConfigError: a student deeper than its teacher, or a layer the teacher does not have.
    """
    depth = int(teacher_config.get(architecture_of(teacher_config).num_layers_key) or 0)
    if student.layers is not None and student.layers[-1] >= depth:
        raise ConfigError(f"student layer {student.layers[-1]} does not exist: the teacher has layers 0..{depth - 1}")
    if student.num_layers is not None and student.num_layers > depth:
        raise ConfigError(
            f"student of {student.num_layers} layers is larger than the teacher ({depth} layers): "
            "choose fewer --student-layers"
        )


def run_progress(step: int, steps: int, seconds: float, max_seconds: float | None) -> float:
    """Fraction of the run done: by steps, or by time when a budget is set (whichever is further), in [0, 1]."""
    progress = step / max(1, steps)
    if max_seconds:
        progress = max(progress, seconds / max_seconds)
    return min(1.0, progress)


def learning_rate(progress: float, peak: float, warmup: float) -> float:
    """Linear warm-up over the first `warmup` of the run, then linear decay to 0 at its end."""
    factor = min(1.0, progress / warmup) if warmup > 0 else 1.0
    return peak * factor * max(0.0, min(1.0, (1.0 - progress) / (1.0 - warmup)))


class _TeacherOutput:
    """The teacher's outputs as the loop reads them (`logits`, `hidden_states`), when a synthesizer made them."""

    def __init__(self, logits: torch.Tensor, hidden_states: tuple[torch.Tensor, ...] | None) -> None:
        self.logits, self.hidden_states = logits, hidden_states


class DistillLoop:
    """State and steps of one distillation run (no file output; see `distill`)."""

    def __init__(self, teacher: Teacher, config: DistillConfig, placement: Placement) -> None:
        self.teacher, self.config, self.placement = teacher, config, placement
        torch.manual_seed(config.seed + placement.rank)
        self.generator = torch.Generator().manual_seed(config.seed + 7919 * placement.rank)
        # With student.layer_choice "auto" the teacher chooses the layers (compressor/layer_choice.py), on its own RNG
        # (the training draws are unchanged); its seconds count against the budget (train_seconds below).
        choice = choose_student_layers(teacher, config, placement) if config.student.layer_choice == "auto" else None
        self.layer_choice: dict | None = choice.to_dict() if choice is not None else None
        chosen = choice.chosen if choice is not None else None
        self.student, self.layers = build_student(teacher, config.student, layers=chosen)
        vocab_size = teacher.word_embeddings.shape[0]  # (V, d), frozen
        candidates = candidate_token_ids(teacher.tokenizer, vocab_size, teacher.special, config.vocab_filter)
        # Training draws follow the vocabulary prior; the held-out random-token diagnostic stays uniform.
        weights = vocabulary_rank_weights(teacher.tokenizer, candidates) if config.vocab_prior == "zipf" else None
        self.context = SynthContext(
            teacher=teacher,
            config=config,
            placement=placement,
            generator=self.generator,
            candidates=candidates,
            token_weights=weights,
            student=self.student,
        )
        self.synthesizer = make_synthesizer(self.context)
        self.parameters = [p for p in self.student.parameters() if p.requires_grad] + self.synthesizer.parameters()
        broadcast_parameters(self.parameters, placement)  # under torchrun every replica starts from rank 0's weights
        # fused: one kernel for all the student's tensors (CPU and CUDA), instead of a loop of small ops per tensor
        self.optimizer = torch.optim.AdamW(
            self.parameters, lr=config.lr, weight_decay=config.weight_decay, fused=placement.device.type in FUSED_ADAMW
        )
        self.step = 0
        self.train_seconds = choice.seconds if choice is not None else 0.0  # the layer choice's time counts
        self.heldouts: list[HeldOut] = []
        self.teacher_class_counts = torch.zeros(teacher.num_labels, dtype=torch.long)
        """How often the teacher predicted each class (multi-label: each label) on the training inputs (coverage)."""

    # ---- held-out sets (deterministic, outside the training RNG) ----
    def build_heldouts(self) -> None:
        """The held-out probes (`asdfd.compressor.probes`: random tokens, words and every other input form), labelled
        by the teacher once."""
        teacher = self.teacher
        self.heldouts = []
        for name, ids, mask in probe_inputs(self.context, self.config.heldout_random):
            ids, mask = ids.to(self.placement.device), mask.to(self.placement.device)
            embeds = teacher.embed_ids(ids)
            logits = predict_logits(teacher.model, embeds, mask, self.placement)
            self.heldouts.append(HeldOut(name, embeds, mask, logits))

    # ---- training ----
    def timed(self, work: Callable[..., Any], *args: Any) -> Any:
        """`work(*args)`, its time counted against the budget (the synthesizer's preparation)."""
        started = time.perf_counter()
        try:
            return work(*args)
        finally:
            self.train_seconds += time.perf_counter() - started

    def learning_rate(self) -> float:
        """The rate of the next step, from the run's progress after it."""
        config = self.config
        progress = run_progress(self.step + 1, config.steps, self.train_seconds, config.max_seconds)
        return learning_rate(progress, config.lr, config.warmup_fraction)

    def over_budget(self) -> bool:
        """Time budget spent. Under torchrun every rank first takes the slowest rank's clock: the learning rate and
        the stop are functions of progress, so they must be the same on every rank or the replicas drift apart."""
        self.train_seconds = max_over_ranks(self.train_seconds, self.placement)
        return self.config.max_seconds is not None and self.train_seconds >= self.config.max_seconds

    def train_step(self) -> dict[str, float]:
        """One student step; raises TrainingDivergedError before touching the weights on NaN/inf."""
        config, synthesizer = self.config, self.synthesizer
        started = time.perf_counter()
        batch = synthesizer.next_batch(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        mask = batch.attention_mask
        inputs = batch.embeddings(self.teacher.embed_ids)  # (B, L, d)
        need_hidden = config.hidden_weight > 0
        if batch.teacher_logits is not None and (batch.teacher_hidden is not None or not need_hidden):
            teacher_out = _TeacherOutput(batch.teacher_logits, batch.teacher_hidden)  # the synthesizer ran it
        else:
            with torch.no_grad():
                teacher_out = self.context.forward(self.teacher.model, inputs, mask, need_hidden)
        self.teacher_class_counts += self.teacher.head.counts(teacher_out.logits)
        student_out = self.context.forward(self.student, inputs, mask, need_hidden or synthesizer.needs_student_hidden)
        kd = self.teacher.head.kd(student_out.logits, teacher_out.logits, config.temperature)
        loss, losses = kd, {"kd": float(kd.detach())}
        if need_hidden:
            pairs_student = [student_out.hidden_states[i + 1] for i in range(len(self.layers))]
            pairs_teacher = [teacher_out.hidden_states[layer + 1] for layer in self.layers]
            hidden = hidden_mse_loss(pairs_student, pairs_teacher, mask)
            loss = loss + config.hidden_weight * hidden
            losses["hidden"] = float(hidden.detach())
        extra = synthesizer.extra_loss(batch, student_out, teacher_out)
        if extra is not None:
            loss = loss + extra[0]
            losses.update(extra[1])
        losses["loss"] = float(loss.detach())
        self._check_finite(losses)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        all_reduce_mean(self.parameters, self.placement)
        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        self.optimizer.step()
        self.step += 1
        synthesizer.after_step(self.step)
        self.train_seconds += time.perf_counter() - started
        return {**losses, **batch.stats, "lr": self.optimizer.param_groups[0]["lr"]}

    def _check_finite(self, losses: dict[str, float]) -> None:
        finite = all(math.isfinite(value) for value in losses.values())
        # One diverged rank stops them all (instead of a hung all-reduce), and says which.
        if any_rank(not finite, self.placement):
            where = f" on rank {self.placement.rank}" if not finite and self.placement.world_size > 1 else ""
            cause = f"loss became {losses['loss']}{where}" if not finite else "another rank's loss became NaN/inf"
            raise TrainingDivergedError(f"{cause} at step {self.step + 1}; lower --lr or --temperature")

    # ---- diagnostics ----
    def evaluate(self, final: bool = False) -> dict:
        counts = self.teacher_class_counts.float()
        balance = [round(float(x), 4) for x in counts / counts.sum().clamp(min=1)]
        return {
            **evaluate_heldout(self.student, self.heldouts, self.placement, self.teacher.head),
            **self.synthesizer.diagnostics(final),
            "train_teacher_balance": balance,
        }

    # ---- checkpoint state ----
    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "train_seconds": self.train_seconds,
            "student": {k: v.detach().cpu() for k, v in self.student.state_dict().items()},
            "synthesizer": self.synthesizer.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "teacher_class_counts": self.teacher_class_counts.clone(),
            "layer_choice": self.layer_choice,  # a resumed run keeps the layers it trained
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.placement.device)
            if self.placement.device.type == "cuda"
            else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.synthesizer.load_state_dict(state.get("synthesizer") or {})
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if state.get("layer_choice"):
            self.layer_choice, self.layers = state["layer_choice"], list(state["layer_choice"]["chosen"])
        if state.get("teacher_class_counts") is not None:
            self.teacher_class_counts = state["teacher_class_counts"].clone()
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.placement.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.placement.device)
        self.step, self.train_seconds = int(state["step"]), float(state["train_seconds"])
        if self.placement.world_size > 1:  # the state is rank 0's: each rank goes on with streams of its own
            self.generator.manual_seed(self.config.seed + 7919 * self.placement.rank + self.step)
            torch.manual_seed(self.config.seed + self.placement.rank + self.step)
