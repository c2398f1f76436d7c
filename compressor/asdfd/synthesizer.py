"""AS-DFD as a synthesizer: stage 1 guesses a pool of pseudo embeddings, stage 2 hardens them adversarially
for the student's self-supervised task while the teacher stays confident (docs/method.md, 'Pseudo-code').

    prepare:      guess pool batches: E <- argmin_E CE(T(E), y), y drawn from the teacher's base rate
    next_batch:   random-token rows (share r) + pool rows; every k steps the pool rows are hardened:
                  E <- argmin_E CE(T(E), y) − λ_adv·L_ss(S, E) [− β·D(T(E), S(E))], written back to the pool
    loss_inputs:  a share of the free rows replaced by the teacher's [MASK] embedding (the pretext task)
    extra_loss:   λ_ss·L_ss(S, E) on the masked rows
    after_step:   [ours] every `guess.refresh_every` steps one new batch replaces the oldest pool samples

Every part is a switch of `DistillConfig` (use_stage2, self_supervised.enabled, adversarial.enabled, ...).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from asdfd.compressor.asdfd.adversarial import harden_embeddings
from asdfd.compressor.asdfd.embedding_guess import draw_targets, guess_embeddings, init_pseudo_embeddings
from asdfd.compressor.asdfd.experimental import snap_to_nearest_tokens
from asdfd.compressor.asdfd.pool import PseudoPool
from asdfd.compressor.asdfd.self_supervised import MaskedEmbeddingHead, mask_embeddings, self_supervised_loss
from asdfd.compressor.diagnostics import changed_fraction, class_balance, embedding_norm_ratio
from asdfd.compressor.losses import disagreement_loss
from asdfd.compressor.synthesis.base import SynthBatch, SynthContext, Synthesizer
from asdfd.compressor.synthesis.tokens import free_positions, random_token_batch
from asdfd.errors import TrainingDivergedError

__all__ = ["AsdfdSynthesizer", "guess_batch"]


def guess_batch(
    context: SynthContext, count: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, float]]:
    """Guess `count` pseudo samples (stage 1): (E (B, L, d), mask (B, L), targets (B,), init_ids (B, L), stats)."""
    config, teacher, runtime = context.config, context.teacher, context.runtime
    embeds, mask, init_ids = init_pseudo_embeddings(
        teacher,
        context.candidates,
        count,
        config.min_length,
        config.max_length,
        config.guess.init,
        generator,
        context.token_weights,
    )
    labels = draw_targets(context.prior, count, config.guess.targets, generator).to(runtime.device)
    vocabulary = context.vocabulary
    target_norms = vocabulary[init_ids].norm(dim=-1).float()
    guessed, stats = guess_embeddings(teacher, embeds, mask, labels, config.guess, runtime, target_norms=target_norms)
    if not math.isfinite(stats["guess_confidence"]):
        raise TrainingDivergedError("embedding guessing produced NaN/inf: lower --guess-lr")
    token_norm_mean = float(vocabulary[context.candidates.to(vocabulary.device)].norm(dim=-1).mean())
    stats["norm_ratio"] = embedding_norm_ratio(guessed, mask, token_norm_mean)
    stats["nearest_changed"] = changed_fraction(guessed, init_ids, mask, vocabulary, context.candidates)
    if config.guess.snap_to_tokens:
        guessed, _ = snap_to_nearest_tokens(guessed, mask, vocabulary, context.candidates)
    return guessed, mask, labels, init_ids, stats


def _pad_cat(parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Concatenate (E (b, l, d), mask (b, l)) parts along the batch, zero-padding to the longest l."""
    width = max(mask.shape[1] for _, mask in parts)
    embeds = [F.pad(e, (0, 0, 0, width - e.shape[1])) for e, _ in parts]
    masks = [F.pad(m, (0, width - m.shape[1])) for _, m in parts]
    return torch.cat(embeds), torch.cat(masks)


class AsdfdSynthesizer(Synthesizer):
    """AS-DFD (Ma et al. 2020) as reconstructed: a pool of guessed embeddings, hardened adversarially."""

    name = "asdfd"

    def __init__(self, context: SynthContext) -> None:
        super().__init__(context)
        config = context.config
        self.use_pool = config.uses_pool
        self.use_ss = config.use_stage2 and config.self_supervised.enabled
        self.use_adversarial = self.use_pool and config.use_stage2 and config.adversarial.enabled
        vocabulary = context.vocabulary
        hidden, vocab_size = vocabulary.shape[1], vocabulary.shape[0]
        self.ss_head = MaskedEmbeddingHead(hidden, vocab_size).to(context.runtime.device) if self.use_ss else None
        self.pool = (
            PseudoPool.empty(config.guess.pool_size, config.max_length, hidden, context.runtime.device)
            if self.use_pool
            else None
        )
        self.token_norm_mean = float(vocabulary[context.candidates.to(vocabulary.device)].norm(dim=-1).mean())
        self.guess_stats: dict[str, float] = {}

    @property
    def stage(self) -> str:
        return "stage2" if self.use_pool and self.context.config.use_stage2 else "kd"

    # -- stage 1 ------------------------------------------------------------------------------------
    def prepare_steps(self) -> int:
        if self.pool is None:
            return 0
        return math.ceil((self.pool.size - self.pool.filled) / self.context.config.batch_size)

    @property
    def prepared_steps(self) -> int:
        """Pool batches guessed so far (the progress bar's start after a resume)."""
        batch = self.context.config.batch_size
        return 0 if self.pool is None else (self.pool.filled + batch - 1) // batch

    def can_start(self) -> bool:
        return self.pool is None or self.pool.filled > 0

    def prepare_step(self) -> dict[str, float]:
        """Guess one batch into the pool."""
        assert self.pool is not None
        count = min(self.context.config.batch_size, self.pool.size - self.pool.filled)
        embeds, mask, labels, init_ids, stats = guess_batch(self.context, count, self.context.generator)
        self.pool.add(embeds, mask, labels, init_ids)
        self.guess_stats = stats
        return stats

    # -- stage 2 ------------------------------------------------------------------------------------
    def _forward(self, model: Any, embeds: Tensor, mask: Tensor, hidden: bool) -> Any:
        with self.context.runtime.autocast():
            return model(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=hidden)

    def _mask(self, embeds: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if self.ss_head is None:
            return embeds, None, None
        context = self.context
        mask_embedding = context.vocabulary[context.teacher.special.mask]
        return mask_embeddings(
            embeds,
            free_positions(mask),
            mask_embedding,
            context.config.self_supervised.mask_fraction,
            context.generator,
            context.vocabulary,
            context.candidates,
        )

    def _harden(self, embeds: Tensor, mask: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The max step on pool rows: L_E = CE(T(E), y) − λ_adv·L_ss(S, E) − β·D(T(E), S(E))."""
        config = self.context.config
        adversarial, teacher = config.adversarial, self.context.teacher

        def objective(current: Tensor) -> tuple[Tensor, dict[str, float]]:
            teacher_logits = self._forward(teacher.model, current, mask, False).logits.float()
            loss = F.cross_entropy(teacher_logits, labels, label_smoothing=config.guess.label_smoothing)
            stats = {"adv_teacher_ce": float(loss.detach())}
            if self.ss_head is None and adversarial.disagreement_weight == 0:
                return loss, stats
            masked_embeds, masked, targets = self._mask(current, mask)
            out = self._forward(self.context.student, masked_embeds, mask, self.ss_head is not None)
            if self.ss_head is not None:
                ss = self_supervised_loss(self.ss_head, out.hidden_states[-1], masked, targets, self.context.vocabulary)
                loss = loss - adversarial.weight * ss
                stats["adv_ss"] = float(ss.detach())
            if adversarial.disagreement_weight > 0:
                reference = (
                    teacher_logits
                    if masked is None
                    else self._forward(teacher.model, masked_embeds, mask, False).logits.float()
                )
                loss = loss - adversarial.disagreement_weight * disagreement_loss(out.logits, reference)
            return loss, stats

        target_norms = embeds.norm(dim=-1) if config.guess.renormalize else None
        return harden_embeddings(
            embeds,
            free_positions(mask),
            objective,
            steps=adversarial.steps,
            lr=adversarial.lr,
            target_norms=target_norms,
        )

    def next_batch(self, step: int) -> SynthBatch:
        context, config = self.context, self.context.config
        share = config.random_token_fraction if self.pool is not None else 1.0
        random_rows = round(config.batch_size * share)
        parts, stats = [], {}
        if random_rows:
            ids, mask = random_token_batch(
                context.candidates,
                random_rows,
                config.min_length,
                config.max_length,
                context.teacher.special,
                context.generator,
                context.token_weights,
            )
            ids, mask = ids.to(context.runtime.device), mask.to(context.runtime.device)
            parts.append((context.vocabulary[ids].float(), mask))
        if config.batch_size - random_rows > 0:
            assert self.pool is not None and self.pool.filled > 0
            index = self.pool.sample(config.batch_size - random_rows, context.generator)
            embeds, mask, labels = self.pool.get(index)
            if self.use_adversarial and step % config.adversarial.every == 0:
                embeds, stats = self._harden(embeds, mask, labels)
                self.pool.update(index, embeds)
            parts.append((embeds, mask))
        embeds, mask = _pad_cat(parts)
        return SynthBatch(attention_mask=mask, inputs_embeds=embeds, stats=stats)

    def loss_inputs(self, batch: SynthBatch, embeds: Tensor) -> Tensor:
        inputs, masked, targets = self._mask(embeds, batch.attention_mask)
        batch.extra.update(masked=masked, targets=targets)
        return inputs

    def needs_student_hidden(self) -> bool:
        return self.ss_head is not None

    def extra_loss(
        self, batch: SynthBatch, student_out: Any, teacher_out: Any
    ) -> tuple[Tensor, dict[str, float]] | None:
        if self.ss_head is None:
            return None
        ss = self_supervised_loss(
            self.ss_head,
            student_out.hidden_states[-1],
            batch.extra["masked"],
            batch.extra["targets"],
            self.context.vocabulary,
        )
        return self.context.config.self_supervised.weight * ss, {"ss": float(ss.detach())}

    def after_step(self, step: int) -> None:
        """[ours] Replace the oldest pool samples by one newly guessed batch every `guess.refresh_every` steps."""
        refresh = self.context.config.guess.refresh_every
        if self.pool is None or not refresh or step % refresh:
            return
        embeds, mask, labels, init_ids, self.guess_stats = guess_batch(
            self.context, self.context.config.batch_size, self.context.generator
        )
        self.pool.add(embeds, mask, labels, init_ids)

    def parameters(self) -> list[Tensor]:
        return list(self.ss_head.parameters()) if self.ss_head is not None else []

    def evaluate(self) -> dict[str, Any]:
        if self.pool is None or not self.pool.filled:
            return {}
        count = min(64, self.pool.filled)
        embeds, mask = self.pool.embeds[:count], self.pool.attention_mask[:count]
        vocabulary, candidates = self.context.vocabulary, self.context.candidates
        return {
            "pool_norm_ratio": round(embedding_norm_ratio(embeds, mask, self.token_norm_mean), 4),
            "pool_nearest_changed": round(
                changed_fraction(embeds, self.pool.init_ids[:count], mask, vocabulary, candidates), 4
            ),
            "pool_target_balance": class_balance(
                F.one_hot(self.pool.labels[: self.pool.filled], self.context.teacher.num_labels).float()
            ),
        }

    def summary(self) -> dict[str, Any]:
        """Final figures: the pool's size and the last guessed batch's stats."""
        if self.pool is None:
            return {}
        return {"pool_size": self.pool.filled, **{f"last_{k}": round(v, 4) for k, v in self.guess_stats.items()}}

    def state_dict(self) -> dict[str, Any]:
        return {
            "ss_head": self.ss_head.state_dict() if self.ss_head is not None else None,
            "pool": self.pool.state_dict() if self.pool is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ss_head is not None and state.get("ss_head") is not None:
            self.ss_head.load_state_dict(state["ss_head"])
        if self.pool is not None and state.get("pool") is not None:
            self.pool = PseudoPool.from_state_dict(state["pool"], self.context.runtime.device)
