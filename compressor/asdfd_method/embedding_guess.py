"""Stage 1 of AS-DFD: Plug & Play Embedding Guessing (teacher only).

Pseudo embeddings E (B, L, d) start from random tokens' embeddings and are optimised with Adam so the
teacher gives them target labels: L_guess(E) = CE(T(E), y) [+ μ · distance to the nearest token].
Only the free positions move; [CLS] and [SEP] keep the teacher's embeddings. Our fixes (each a switch in
`GuessConfig`): targets at the teacher's base rate, label smoothing and a stop confidence against over-confident
samples, and row renormalisation against norm drift.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from asdfd.compressor.asdfd_method.experimental import snap_to_nearest_tokens
from asdfd.compressor.asdfd_method.free_rows import adam_on_free_rows
from asdfd.compressor.asdfd_method.synthesizer import GuessConfig
from asdfd.compressor.devices import Placement
from asdfd.compressor.diagnostics import changed_fraction, embedding_norm_ratio
from asdfd.compressor.frozen_teacher import Teacher, load_teacher
from asdfd.compressor.losses import guess_loss, nearest_token_distance
from asdfd.compressor.synthesis.tokens import (
    candidate_token_ids,
    free_positions,
    layout_ids,
    nearest_token_ids,
    random_token_batch,
)
from asdfd.core.errors import ConfigError, TrainingDivergedError

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor.synthesis.base import SynthContext

__all__ = [
    "draw_targets",
    "init_pseudo_embeddings",
    "guess_embeddings",
    "guess_batch",
    "decode_pseudo_samples",
    "teacher_base_rate",
]

logger = logging.getLogger(__name__)


def draw_targets(prior: Tensor, count: int, targets: str, generator: torch.Generator) -> Tensor:
    """Target labels (count,): balanced round-robin over classes (paper), or drawn from `prior` (C,)."""
    if targets == "balanced":
        offset = int(torch.randint(len(prior), (1,), generator=generator))
        return (torch.arange(count) + offset) % len(prior)
    return torch.multinomial(prior, count, replacement=True, generator=generator)


def teacher_base_rate(teacher_logits: Tensor, floor: float = 0.05) -> Tensor:
    """How often the teacher predicts each class on random-token inputs, each at least `floor`; (C,) summing to 1.

    [GUESS] the floor keeps every class represented even when the teacher never predicts it on noise.
    """
    counts = torch.bincount(teacher_logits.argmax(-1).cpu(), minlength=teacher_logits.shape[-1]).float()
    rate = (counts / counts.sum()).clamp(min=floor)
    return rate / rate.sum()


@torch.no_grad()
def init_pseudo_embeddings(
    teacher: Teacher,
    candidates: Tensor,
    count: int,
    min_length: int,
    max_length: int,
    init: str,
    generator: torch.Generator,
    token_weights: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Starting points for guessing (tokens drawn with `token_weights` over `candidates`, uniform if None).

    Returns:
        embeds (B, L, d) on the teacher's device, attention_mask (B, L), init_ids (B, L): the token each
        position started from (Gaussian init: a random candidate token, used only for row norms).
    """
    ids, mask = random_token_batch(candidates, count, min_length, max_length, teacher.special, generator, token_weights)
    vocabulary = teacher.word_embeddings
    ids = ids.to(vocabulary.device)
    mask = mask.to(vocabulary.device)
    embeds = vocabulary[ids].detach().clone().float()
    if init == "gaussian":
        free = free_positions(mask)
        noise = torch.randn(embeds.shape, generator=generator).to(embeds.device)
        gaussian = vocabulary.mean(0) + noise * vocabulary.std(0)
        embeds = torch.where(free.unsqueeze(-1), gaussian, embeds)
    return embeds, mask, ids


def guess_embeddings(
    teacher: Teacher,
    embeds: Tensor,
    attention_mask: Tensor,
    labels: Tensor,
    config: GuessConfig,
    placement: Placement,
    *,
    target_norms: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Optimise pseudo embeddings so the teacher predicts `labels` (AS-DFD stage 1).

    Args:
        embeds: (B, L, d) starting points; [CLS]/[SEP]/padding rows are kept as given.
        attention_mask: (B, L).
        labels: (B,) target labels.
        target_norms: (B, L) row norms to renormalise to after each step (None: the starting rows' norms).
    Returns:
        The guessed embeddings (B, L, d), detached, and stats (teacher confidence in the targets, steps run).
    """
    free = free_positions(attention_mask)
    labels = labels.to(embeds.device)
    if target_norms is None:
        target_norms = embeds.norm(dim=-1)
    vocabulary = teacher.word_embeddings

    def objective(current: torch.Tensor):
        with placement.autocast():
            logits = teacher.model(inputs_embeds=current, attention_mask=attention_mask).logits.float()
        confidence = logits.softmax(-1).gather(1, labels[:, None]).squeeze(1)
        active = confidence < config.stop_confidence if config.stop_confidence is not None else None
        if active is not None and not bool(active.any()):
            return None, {}, active  # every sample is confident enough
        loss = guess_loss(logits, labels, label_smoothing=config.label_smoothing, active=active)
        if config.nearest_token_weight > 0:
            loss = loss + config.nearest_token_weight * nearest_token_distance(current[free], vocabulary)
        return loss, {}, active  # AS-DFD: only the free positions of unfinished samples move

    embeds, _, steps_run = adam_on_free_rows(
        embeds,
        free,
        objective,
        steps=config.steps,
        lr=config.lr,
        target_norms=target_norms if config.renormalize else None,
    )
    with torch.no_grad(), placement.autocast():
        logits = teacher.model(inputs_embeds=embeds, attention_mask=attention_mask).logits.float()
    confidence = logits.softmax(-1).gather(1, labels[:, None]).squeeze(1)
    stats = {"guess_confidence": float(confidence.mean()), "guess_steps": float(steps_run)}
    return embeds.detach(), stats


def guess_batch(
    context: SynthContext, prior: Tensor, count: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, float]]:
    """Guess `count` pseudo samples with the run's AS-DFD options (`context.config.synthesis`), targets drawn from
    `prior` (C,): (E (B, L, d), mask (B, L), targets (B,), init_ids (B, L), stats)."""
    config, teacher, placement = context.config, context.teacher, context.placement
    options = config.synthesis.guess
    embeds, mask, init_ids = init_pseudo_embeddings(
        teacher,
        context.candidates,
        count,
        config.min_length,
        config.max_length,
        options.init,
        generator,
        context.token_weights,
    )
    labels = draw_targets(prior, count, options.targets, generator).to(placement.device)
    vocabulary = context.vocabulary
    target_norms = vocabulary[init_ids].norm(dim=-1).float()
    guessed, stats = guess_embeddings(teacher, embeds, mask, labels, options, placement, target_norms=target_norms)
    if not math.isfinite(stats["guess_confidence"]):
        raise TrainingDivergedError("embedding guessing produced NaN/inf: lower --guess-lr")
    token_norm_mean = float(vocabulary[context.candidates.to(vocabulary.device)].norm(dim=-1).mean())
    stats["norm_ratio"] = embedding_norm_ratio(guessed, mask, token_norm_mean)
    stats["nearest_changed"] = changed_fraction(guessed, init_ids, mask, vocabulary, context.candidates)
    if options.snap_to_tokens:
        guessed, _ = snap_to_nearest_tokens(guessed, mask, vocabulary, context.candidates)
    return guessed, mask, labels, init_ids, stats


def decode_pseudo_samples(
    teacher_dir: str | Path,
    num_samples: int,
    *,
    seed: int = 0,
    max_length: int = 32,
    guess_steps: int = 8,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Data-free calibration inputs: stage-1 guessed embeddings decoded to their nearest vocabulary tokens.

    Cheap (a few guessing steps per batch, CPU). Targets follow the teacher's base rate on random tokens.

    Example:
        >>> input_ids, attention_mask = decode_pseudo_samples("artifacts/teacher-sst2", 64)
        >>> input_ids.shape
        (64, 32)

    Returns:
        input_ids (N, max_length) int64 with [CLS] ... [SEP] and padding, attention_mask (N, max_length) int64.
    """
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    if max_length < 3:
        raise ConfigError(f"max_length must be >= 3, got {max_length}")
    placement = Placement(device=torch.device("cpu"), precision="fp32")
    teacher = load_teacher(teacher_dir, "cpu")
    generator = torch.Generator().manual_seed(seed)
    candidates = candidate_token_ids(teacher.tokenizer, teacher.word_embeddings.shape[0], teacher.special)
    min_length = min(8, max_length)
    with torch.no_grad():
        ids, mask = random_token_batch(candidates, 64, min_length, max_length, teacher.special, generator)
        prior = teacher_base_rate(teacher.model(input_ids=ids, attention_mask=mask).logits)
    config = GuessConfig(steps=guess_steps)
    all_ids, all_masks = [], []
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        embeds, mask, _ = init_pseudo_embeddings(
            teacher, candidates, count, min_length, max_length, "tokens", generator
        )
        labels = draw_targets(prior, count, config.targets, generator)
        guessed, _ = guess_embeddings(teacher, embeds, mask, labels, config, placement)
        body = nearest_token_ids(guessed, teacher.word_embeddings, candidates)
        lengths = mask.sum(1)
        padded = torch.full((count, max_length), teacher.special.pad, dtype=torch.long)
        padded[:, : body.shape[1]] = body
        decoded, decoded_mask = layout_ids(padded, lengths, teacher.special)
        out_ids = torch.full((count, max_length), teacher.special.pad, dtype=torch.long)
        out_mask = torch.zeros((count, max_length), dtype=torch.long)
        out_ids[:, : decoded.shape[1]] = decoded
        out_mask[:, : decoded.shape[1]] = decoded_mask
        all_ids.append(out_ids)
        all_masks.append(out_mask)
    return torch.cat(all_ids).numpy().astype(np.int64), torch.cat(all_masks).numpy().astype(np.int64)
