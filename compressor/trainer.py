"""The AS-DFD training loop: stage 1 fills the pool, stage 2 alternates max steps on E and student steps.

    for each step:                                     (docs/method.md, 'Pseudo-code', with our switches)
        batch = random-token rows (share r) + pool rows (E, y)
        every k steps: E <- argmin_E CE(T(E), y) − λ_adv·L_ss(S, E) [− β·D]; write E back to the pool
        student step on τ²·KL(T‖S) + w_h·hidden MSE + λ_ss·L_ss(S, E)

`Trainer` owns all mutable state (student, head, optimiser, pool, RNG); `state_dict()` captures it so a
resumed run reproduces an uninterrupted one exactly on CPU (same seed, no time limit).
"""

from __future__ import annotations

import logging
import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor

from asdfd.compressor.adversarial import harden_embeddings
from asdfd.compressor.config import DistillConfig
from asdfd.compressor.devices import Runtime, all_reduce_mean
from asdfd.compressor.diagnostics import (HeldOut, changed_fraction, class_balance, embedding_norm_ratio,
                                          evaluate_heldout, predict_logits)
from asdfd.compressor.embedding_guess import draw_targets, guess_embeddings, init_pseudo_embeddings, teacher_base_rate
from asdfd.compressor.experimental import snap_to_nearest_tokens
from asdfd.compressor.losses import disagreement_loss, hidden_mse_loss, kd_loss
from asdfd.compressor.self_supervised import MaskedEmbeddingHead, mask_embeddings, self_supervised_loss
from asdfd.compressor.student import build_student
from asdfd.compressor.synthesis import (PseudoPool, candidate_token_ids, free_positions, random_token_batch,
                                        vocabulary_rank_weights)
from asdfd.compressor.teacher import Teacher
from asdfd.errors import TrainingDivergedError

__all__ = ["Trainer", "HELDOUT_SEED_OFFSET"]

logger = logging.getLogger(__name__)

HELDOUT_SEED_OFFSET = 1_000_003
"""Held-out sets come from their own generator, so they are identical across runs, resumes and methods."""


def _pad_cat(parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Concatenate (E (b, l, d), mask (b, l)) parts along the batch, zero-padding to the longest l."""
    width = max(mask.shape[1] for _, mask in parts)
    embeds = [F.pad(e, (0, 0, 0, width - e.shape[1])) for e, _ in parts]
    masks = [F.pad(m, (0, width - m.shape[1])) for _, m in parts]
    return torch.cat(embeds), torch.cat(masks)


class Trainer:
    """State and steps of one distillation run (no file output; see `distill.py`)."""

    def __init__(self, teacher: Teacher, config: DistillConfig, runtime: Runtime) -> None:
        self.teacher, self.config, self.runtime = teacher, config, runtime
        torch.manual_seed(config.seed + runtime.rank)
        self.generator = torch.Generator().manual_seed(config.seed + 7919 * runtime.rank)
        self.student, self.layers = build_student(teacher, config.student)
        self.vocabulary = teacher.word_embeddings  # (V, d), frozen
        self.candidates = candidate_token_ids(teacher.tokenizer, self.vocabulary.shape[0], teacher.special,
                                              config.vocab_filter)
        self.token_norm_mean = float(self.vocabulary[self.candidates.to(self.vocabulary.device)].norm(dim=-1).mean())
        # Training draws follow the vocabulary prior; the held-out random-token diagnostic stays uniform.
        self.token_weights = (vocabulary_rank_weights(teacher.tokenizer, self.candidates)
                              if config.vocab_prior == "zipf" else None)
        asdfd = config.method == "asdfd"
        self.use_pool = asdfd and config.uses_pool
        self.use_ss = asdfd and config.use_stage2 and config.self_supervised.enabled
        self.use_adversarial = self.use_pool and config.use_stage2 and config.adversarial.enabled
        hidden, vocab_size = self.vocabulary.shape[1], self.vocabulary.shape[0]
        self.ss_head = MaskedEmbeddingHead(hidden, vocab_size).to(runtime.device) if self.use_ss else None
        self.parameters = [p for p in self.student.parameters() if p.requires_grad]
        if self.ss_head is not None:
            self.parameters += list(self.ss_head.parameters())
        self.optimizer = torch.optim.AdamW(self.parameters, lr=config.lr, weight_decay=config.weight_decay)
        self.pool = (PseudoPool.empty(config.guess.pool_size, config.max_length, hidden, runtime.device)
                     if self.use_pool else None)
        self.step = 0
        self.train_seconds = 0.0
        self.prior: Tensor | None = None
        self.heldouts: list[HeldOut] = []
        self.guess_stats: dict[str, float] = {}

    # ---- held-out sets and the teacher's base rate (deterministic, outside the training RNG) ----
    def build_heldouts(self) -> None:
        config, teacher = self.config, self.teacher
        generator = torch.Generator().manual_seed(config.seed + HELDOUT_SEED_OFFSET)
        ids, mask = random_token_batch(self.candidates, config.heldout_random, config.min_length, config.max_length,
                                       teacher.special, generator)
        ids, mask = ids.to(self.runtime.device), mask.to(self.runtime.device)
        embeds = self.vocabulary[ids].float()
        logits = predict_logits(teacher.model, embeds, mask, self.runtime)
        self.heldouts = [HeldOut("heldout_random", embeds, mask, logits)]
        self.prior = teacher_base_rate(logits)
        logger.info("teacher base rate on random tokens: %s", [round(float(x), 3) for x in self.prior])
        embeds, mask, labels, _, _ = self.guess_batch(config.heldout_pseudo, generator)
        self.heldouts.append(HeldOut("heldout_pseudo", embeds, mask, predict_logits(teacher.model, embeds, mask,
                                                                                    self.runtime)))

    # ---- stage 1 ----
    def guess_batch(self, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        """Guess `count` pseudo samples: (E (B, L, d), mask (B, L), targets (B,), init_ids (B, L), stats)."""
        config = self.config
        embeds, mask, init_ids = init_pseudo_embeddings(self.teacher, self.candidates, count, config.min_length,
                                                        config.max_length, config.guess.init, generator,
                                                        self.token_weights)
        labels = draw_targets(self.prior, count, config.guess.targets, generator).to(self.runtime.device)
        target_norms = self.vocabulary[init_ids].norm(dim=-1).float()
        guessed, stats = guess_embeddings(self.teacher, embeds, mask, labels, config.guess, self.runtime,
                                          target_norms=target_norms)
        if not math.isfinite(stats["guess_confidence"]):
            raise TrainingDivergedError("embedding guessing produced NaN/inf: lower --guess-lr")
        stats["norm_ratio"] = embedding_norm_ratio(guessed, mask, self.token_norm_mean)
        stats["nearest_changed"] = changed_fraction(guessed, init_ids, mask, self.vocabulary, self.candidates)
        if config.guess.snap_to_tokens:
            guessed, _ = snap_to_nearest_tokens(guessed, mask, self.vocabulary, self.candidates)
        return guessed, mask, labels, init_ids, stats

    def stage1_batches_left(self) -> int:
        if self.pool is None:
            return 0
        return math.ceil((self.pool.size - self.pool.filled) / self.config.batch_size)

    def stage1_batch(self) -> dict[str, float]:
        """Guess one batch into the pool; returns its stats."""
        assert self.pool is not None
        count = min(self.config.batch_size, self.pool.size - self.pool.filled)
        started = time.perf_counter()
        embeds, mask, labels, init_ids, stats = self.guess_batch(count, self.generator)
        self.pool.add(embeds, mask, labels, init_ids)
        self.train_seconds += time.perf_counter() - started
        self.guess_stats = stats
        return stats

    # ---- stage 2 / KD ----
    def progress(self, step: int) -> float:
        """Fraction of the run done after `step` steps: by steps, or by time when a budget is set (whichever is
        further), so warm-up and decay fit the run however it ends."""
        config = self.config
        progress = step / max(1, config.steps)
        if config.max_seconds:
            progress = max(progress, self.train_seconds / config.max_seconds)
        return min(1.0, progress)

    def learning_rate(self) -> float:
        """Linear warm-up over the first `warmup_fraction` of the run, then linear decay to 0 at its end."""
        config = self.config
        progress = self.progress(self.step + 1)
        warmup = config.warmup_fraction
        factor = min(1.0, progress / warmup) if warmup > 0 else 1.0
        return config.lr * factor * max(0.0, min(1.0, (1.0 - progress) / (1.0 - warmup)))

    def over_budget(self) -> bool:
        """Time budget spent; under torchrun all ranks stop together (rank clocks differ)."""
        over = self.config.max_seconds is not None and self.train_seconds >= self.config.max_seconds
        if self.runtime.world_size > 1:
            flag = torch.tensor([float(over)], device=self.runtime.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            over = bool(flag.item())
        return over

    def _forward(self, model, embeds: Tensor, mask: Tensor, hidden: bool):
        with self.runtime.autocast():
            return model(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=hidden)

    def _ss_inputs(self, embeds: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if self.ss_head is None:
            return embeds, None, None
        mask_embedding = self.vocabulary[self.teacher.special.mask]
        return mask_embeddings(embeds, free_positions(mask), mask_embedding, self.config.self_supervised.mask_fraction,
                               self.generator, self.vocabulary, self.candidates)

    def _harden(self, embeds: Tensor, mask: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        """AS-DFD max step on pool rows: L_E = CE(T(E), y) − λ_adv·L_ss(S, E) − β·D(T(E), S(E))."""
        config = self.config.adversarial

        def objective(current: Tensor) -> tuple[Tensor, dict[str, float]]:
            teacher_logits = self._forward(self.teacher.model, current, mask, False).logits.float()
            loss = F.cross_entropy(teacher_logits, labels, label_smoothing=self.config.guess.label_smoothing)
            stats = {"adv_teacher_ce": float(loss.detach())}
            if self.ss_head is None and config.disagreement_weight == 0:
                return loss, stats
            masked_embeds, masked, targets = self._ss_inputs(current, mask)
            out = self._forward(self.student, masked_embeds, mask, self.ss_head is not None)
            if self.ss_head is not None:
                ss = self_supervised_loss(self.ss_head, out.hidden_states[-1], masked, targets, self.vocabulary)
                loss = loss - config.weight * ss
                stats["adv_ss"] = float(ss.detach())
            if config.disagreement_weight > 0:
                reference = teacher_logits if masked is None else self._forward(
                    self.teacher.model, masked_embeds, mask, False).logits.float()
                loss = loss - config.disagreement_weight * disagreement_loss(out.logits, reference)
            return loss, stats

        target_norms = embeds.norm(dim=-1) if self.config.guess.renormalize else None
        return harden_embeddings(embeds, free_positions(mask), objective, steps=config.steps, lr=config.lr,
                                 target_norms=target_norms)

    def _batch(self) -> tuple[Tensor, Tensor, dict[str, float]]:
        config = self.config
        share = config.random_token_fraction if self.pool is not None else 1.0
        random_rows = round(config.batch_size * share)
        parts, stats = [], {}
        if random_rows:
            ids, mask = random_token_batch(self.candidates, random_rows, config.min_length, config.max_length,
                                           self.teacher.special, self.generator, self.token_weights)
            ids, mask = ids.to(self.runtime.device), mask.to(self.runtime.device)
            parts.append((self.vocabulary[ids].float(), mask))
        if config.batch_size - random_rows > 0:
            assert self.pool is not None and self.pool.filled > 0
            index = self.pool.sample(config.batch_size - random_rows, self.generator)
            embeds, mask, labels = self.pool.get(index)
            if self.use_adversarial and self.step % config.adversarial.every == 0:
                embeds, stats = self._harden(embeds, mask, labels)
                self.pool.update(index, embeds)
            parts.append((embeds, mask))
        embeds, mask = _pad_cat(parts)
        return embeds, mask, stats

    def train_step(self) -> dict[str, float]:
        """One student (min) step; raises TrainingDivergedError before touching the weights on NaN/inf."""
        config = self.config
        started = time.perf_counter()
        embeds, mask, stats = self._batch()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        inputs, masked, targets = self._ss_inputs(embeds, mask)
        need_hidden = config.hidden_weight > 0
        with torch.no_grad():
            teacher_out = self._forward(self.teacher.model, inputs, mask, need_hidden)
        student_out = self._forward(self.student, inputs, mask, need_hidden or self.ss_head is not None)
        kd = kd_loss(student_out.logits, teacher_out.logits, config.temperature)
        loss = kd
        losses = {"kd": float(kd.detach())}
        if need_hidden:
            pairs_student = [student_out.hidden_states[i + 1] for i in range(len(self.layers))]
            pairs_teacher = [teacher_out.hidden_states[layer + 1] for layer in self.layers]
            hidden = hidden_mse_loss(pairs_student, pairs_teacher, mask)
            loss = loss + config.hidden_weight * hidden
            losses["hidden"] = float(hidden.detach())
        if self.ss_head is not None:
            ss = self_supervised_loss(self.ss_head, student_out.hidden_states[-1], masked, targets, self.vocabulary)
            loss = loss + config.self_supervised.weight * ss
            losses["ss"] = float(ss.detach())
        losses["loss"] = float(loss.detach())
        finite = all(math.isfinite(value) for value in losses.values())
        if self.runtime.world_size > 1:  # one diverged rank stops them all, instead of a hung all-reduce
            flag = torch.tensor([float(not finite)], device=self.runtime.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            finite = not bool(flag.item())
        if not finite:
            raise TrainingDivergedError(f"loss became {losses['loss']} at step {self.step + 1} ({losses}); "
                                        "lower --lr or --temperature")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        all_reduce_mean(self.parameters, self.runtime)
        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        self.optimizer.step()
        self.step += 1
        self.train_seconds += time.perf_counter() - started
        return {**losses, **stats, "lr": self.optimizer.param_groups[0]["lr"]}

    def refresh_pool(self) -> None:
        """[ours] Replace the oldest pool samples by one newly guessed batch (guess.refresh_every)."""
        assert self.pool is not None
        started = time.perf_counter()
        embeds, mask, labels, init_ids, self.guess_stats = self.guess_batch(self.config.batch_size, self.generator)
        self.pool.add(embeds, mask, labels, init_ids)
        self.train_seconds += time.perf_counter() - started

    # ---- diagnostics ----
    def evaluate(self) -> dict:
        metrics: dict = dict(evaluate_heldout(self.student, self.heldouts, self.runtime))
        if self.pool is not None and self.pool.filled:
            count = min(64, self.pool.filled)
            embeds, mask = self.pool.embeds[:count], self.pool.attention_mask[:count]
            metrics["pool_norm_ratio"] = round(embedding_norm_ratio(embeds, mask, self.token_norm_mean), 4)
            metrics["pool_nearest_changed"] = round(changed_fraction(embeds, self.pool.init_ids[:count], mask,
                                                                     self.vocabulary, self.candidates), 4)
            metrics["pool_target_balance"] = class_balance(F.one_hot(self.pool.labels[: self.pool.filled],
                                                                     self.teacher.num_labels).float())
        return metrics

    # ---- checkpoint state ----
    def state_dict(self) -> dict:
        return {"step": self.step, "train_seconds": self.train_seconds,
                "student": {k: v.detach().cpu() for k, v in self.student.state_dict().items()},
                "ss_head": self.ss_head.state_dict() if self.ss_head is not None else None,
                "optimizer": self.optimizer.state_dict(), "pool": self.pool.state_dict() if self.pool else None,
                "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(self.runtime.device) if self.runtime.device.type == "cuda" else None}

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        if self.ss_head is not None and state.get("ss_head") is not None:
            self.ss_head.load_state_dict(state["ss_head"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.pool is not None and state.get("pool") is not None:
            self.pool = PseudoPool.from_state_dict(state["pool"], self.runtime.device)
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.runtime.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.runtime.device)
        self.step, self.train_seconds = int(state["step"]), float(state["train_seconds"])
        if self.runtime.world_size > 1:  # each rank must keep its own stream after a resume
            self.generator.manual_seed(self.config.seed + 7919 * self.runtime.rank + self.step)


