"""The distillation loop: KD (+ hidden-state matching) on whatever batch the synthesizer hands it.

    for each step:
        batch   = synthesizer.next_batch(step)                  # ids or embeddings + mask
        inputs  = synthesizer.loss_inputs(batch, embeddings)    # as given (AS-DFD masks rows here)
        loss    = KD(T(inputs), S(inputs)) + w_h·hidden MSE + synthesizer.extra_loss(...)
                  (KD by the teacher's head: τ²·KL of softmaxes, per-label binary KL, or score MSE)
        student step (AdamW, lr = learning_rate(progress)); synthesizer.after_step(step)

`DistillLoop` owns the mutable state (student, optimiser, RNG, the synthesizer's state); `state_dict()`
captures it so a resumed run reproduces an uninterrupted one exactly on CPU (same seed, no time limit).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import torch

from asdfd.compressor.asdfd.embedding_guess import teacher_base_rate
from asdfd.compressor.asdfd.synthesizer import guess_batch
from asdfd.compressor.config import DistillConfig
from asdfd.compressor.devices import Runtime, all_reduce_mean, any_rank, broadcast_parameters, max_over_ranks
from asdfd.compressor.diagnostics import HeldOut, evaluate_heldout, predict_logits
from asdfd.compressor.losses import hidden_mse_loss
from asdfd.compressor.student import build_student
from asdfd.compressor.synthesis import SynthContext, make_synthesizer
from asdfd.compressor.synthesis.tokens import candidate_token_ids, random_token_batch, vocabulary_rank_weights
from asdfd.compressor.synthesis.words import WordTokens
from asdfd.compressor.teacher import Teacher
from asdfd.errors import ConfigError, TrainingDivergedError
from asdfd.heads import SINGLE_LABEL
from asdfd.models import max_positions

__all__ = ["DistillLoop", "learning_rate", "run_progress", "HELDOUT_SEED_OFFSET"]

logger = logging.getLogger(__name__)

HELDOUT_SEED_OFFSET = 1_000_003
"""Held-out sets come from their own generator, so they are identical across runs, resumes and methods."""


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
    """State and steps of one distillation run (no file output; see `distill.py`)."""

    def __init__(self, teacher: Teacher, config: DistillConfig, runtime: Runtime) -> None:
        if teacher.pairs:  # every synthesizer and held-out set reads min/max_length: pairs get their own lengths
            longest = min(config.pair_max_length, max_positions(teacher.model.config.to_dict()))
            shortest = min(config.pair_min_length, longest)
            config = dataclasses.replace(config, min_length=shortest, max_length=longest)
        self.teacher, self.config, self.runtime = teacher, config, runtime
        torch.manual_seed(config.seed + runtime.rank)
        self.generator = torch.Generator().manual_seed(config.seed + 7919 * runtime.rank)
        if config.method == "asdfd" and (teacher.pairs or teacher.head.kind != SINGLE_LABEL):
            what = "a sentence-pair teacher" if teacher.pairs else f"a {teacher.head.kind.replace('_', '-')} head"
            raise ConfigError(
                "--method asdfd guesses embeddings of single texts towards one class: use mix, words, random-tokens, "
                f"guided or hotflip for {what}"
            )
        self.student, self.layers = build_student(teacher, config.student)
        vocabulary = teacher.word_embeddings  # (V, d), frozen
        candidates = candidate_token_ids(teacher.tokenizer, vocabulary.shape[0], teacher.special, config.vocab_filter)
        # Training draws follow the vocabulary prior; the held-out random-token diagnostic stays uniform.
        weights = vocabulary_rank_weights(teacher.tokenizer, candidates) if config.vocab_prior == "zipf" else None
        self.context = SynthContext(
            teacher=teacher,
            config=config,
            runtime=runtime,
            generator=self.generator,
            candidates=candidates,
            token_weights=weights,
            student=self.student,
        )
        self.synthesizer = make_synthesizer(config.method, self.context)
        self.parameters = [p for p in self.student.parameters() if p.requires_grad] + self.synthesizer.parameters()
        broadcast_parameters(self.parameters, runtime)  # under torchrun every replica starts from rank 0's weights
        self.optimizer = torch.optim.AdamW(self.parameters, lr=config.lr, weight_decay=config.weight_decay)
        self.step = 0
        self.train_seconds = 0.0
        self.heldouts: list[HeldOut] = []
        self.teacher_class_counts = torch.zeros(teacher.num_labels, dtype=torch.long)
        """How often the teacher predicted each class (multi-label: each label) on the training inputs (coverage)."""

    @property
    def vocabulary(self) -> torch.Tensor:
        return self.teacher.word_embeddings

    # ---- held-out sets and the teacher's base rate (deterministic, outside the training RNG) ----
    def build_heldouts(self) -> None:
        config, teacher, context = self.config, self.teacher, self.context
        generator = torch.Generator().manual_seed(config.seed + HELDOUT_SEED_OFFSET)
        ids, mask = random_token_batch(
            context.candidates, config.heldout_random, config.min_length, config.max_length, teacher.special, generator
        )
        ids, mask = ids.to(self.runtime.device), mask.to(self.runtime.device)
        embeds = teacher.embed_ids(ids)
        logits = predict_logits(teacher.model, embeds, mask, self.runtime)
        self.heldouts = [HeldOut("heldout_random", embeds, mask, logits)]
        if teacher.head.kind == SINGLE_LABEL:  # guessed embeddings aim at one class: softmax heads only
            context.prior = teacher_base_rate(logits)
            logger.info("teacher base rate on random tokens: %s", [round(float(x), 3) for x in context.prior])
            embeds, mask, _, _, _ = guess_batch(context, config.heldout_pseudo, generator)
            self.heldouts.append(
                HeldOut("heldout_pseudo", embeds, mask, predict_logits(teacher.model, embeds, mask, self.runtime))
            )
        # Whole words by the Zipf prior, a yardstick closer to text than uniform tokens (the quality estimate).
        words = WordTokens(dataclasses.replace(context, generator=generator))
        ids, mask = words.sample(config.heldout_random)
        ids, mask = ids.to(self.runtime.device), mask.to(self.runtime.device)
        embeds = teacher.embed_ids(ids)
        self.heldouts.append(
            HeldOut("heldout_words", embeds, mask, predict_logits(teacher.model, embeds, mask, self.runtime))
        )

    # ---- preparation (AS-DFD's stage 1), timed against the budget ----
    def prepare_step(self) -> dict[str, float]:
        started = time.perf_counter()
        stats = self.synthesizer.prepare_step()
        self.train_seconds += time.perf_counter() - started
        return stats

    # ---- training ----
    def learning_rate(self) -> float:
        """The rate of the next step, from the run's progress after it."""
        config = self.config
        progress = run_progress(self.step + 1, config.steps, self.train_seconds, config.max_seconds)
        return learning_rate(progress, config.lr, config.warmup_fraction)

    def over_budget(self) -> bool:
        """Time budget spent. Under torchrun every rank first takes the slowest rank's clock: the learning rate and
        the stop are functions of progress, so they must be the same on every rank or the replicas drift apart."""
        self.train_seconds = max_over_ranks(self.train_seconds, self.runtime)
        return self.config.max_seconds is not None and self.train_seconds >= self.config.max_seconds

    def _forward(self, model: Any, embeds: torch.Tensor, mask: torch.Tensor, hidden: bool) -> Any:
        with self.runtime.autocast():
            return model(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=hidden)

    def train_step(self) -> dict[str, float]:
        """One student step; raises TrainingDivergedError before touching the weights on NaN/inf."""
        config, synthesizer = self.config, self.synthesizer
        started = time.perf_counter()
        batch = synthesizer.next_batch(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        mask = batch.attention_mask
        inputs = synthesizer.loss_inputs(batch, batch.embeddings(self.teacher.embed_ids))
        need_hidden = config.hidden_weight > 0
        if batch.teacher_logits is not None and (batch.teacher_hidden is not None or not need_hidden):
            teacher_out = _TeacherOutput(batch.teacher_logits, batch.teacher_hidden)  # the synthesizer ran it
        else:
            with torch.no_grad():
                teacher_out = self._forward(self.teacher.model, inputs, mask, need_hidden)
        self.teacher_class_counts += self.teacher.head.counts(teacher_out.logits)
        student_out = self._forward(self.student, inputs, mask, need_hidden or synthesizer.needs_student_hidden())
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
        all_reduce_mean(self.parameters, self.runtime)
        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        self.optimizer.step()
        self.step += 1
        synthesizer.after_step(self.step)
        self.train_seconds += time.perf_counter() - started
        return {**losses, **batch.stats, "lr": self.optimizer.param_groups[0]["lr"]}

    def _check_finite(self, losses: dict[str, float]) -> None:
        finite = all(math.isfinite(value) for value in losses.values())
        # One diverged rank stops them all (instead of a hung all-reduce), and says which.
        if any_rank(not finite, self.runtime):
            where = f" on rank {self.runtime.rank}" if not finite and self.runtime.world_size > 1 else ""
            cause = f"loss became {losses['loss']}{where}" if not finite else "another rank's loss became NaN/inf"
            raise TrainingDivergedError(f"{cause} at step {self.step + 1}; lower --lr or --temperature")

    # ---- diagnostics ----
    def evaluate(self) -> dict:
        counts = self.teacher_class_counts.float()
        balance = [round(float(x), 4) for x in counts / counts.sum().clamp(min=1)]
        return {
            **evaluate_heldout(self.student, self.heldouts, self.runtime, self.teacher.head),
            **self.synthesizer.evaluate(),
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
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.runtime.device) if self.runtime.device.type == "cuda" else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.synthesizer.load_state_dict(state.get("synthesizer") or {})
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if state.get("teacher_class_counts") is not None:
            self.teacher_class_counts = state["teacher_class_counts"].clone()
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.runtime.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.runtime.device)
        self.step, self.train_seconds = int(state["step"]), float(state["train_seconds"])
        if self.runtime.world_size > 1:  # the state is rank 0's: each rank goes on with streams of its own
            self.generator.manual_seed(self.config.seed + 7919 * self.runtime.rank + self.step)
            torch.manual_seed(self.config.seed + self.runtime.rank + self.step)
