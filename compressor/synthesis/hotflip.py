"""Adversarial search in token space: guided inputs with a few gradient-guided token swaps (HotFlip, Ebrahimi et al.
2018) towards where the student still disagrees with the teacher. AS-DFD's "adversarial difficulty", without
leaving the real tokens the student reads at inference.

Every `flip_every` steps, for each kept input: D = KD(T(x), S(x)) (the head's loss) is differentiated
with respect to the input embeddings e_i; at the `flip_positions` free positions with the largest
gradient, token i is replaced by the word v maximising the first-order gain (e_v − e_i) · ∂D/∂e_i. The teacher
then labels the new inputs in the student step (no target is wrong).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asdfd.compressor.deferred import deferred
from asdfd.compressor.synthesis.base import SynthBatch
from asdfd.compressor.synthesis.guided import GuidedConfig, GuidedWords
from asdfd.compressor.synthesis.registry import check, register

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

torch = deferred("torch")
tokens = deferred("asdfd.compressor.synthesis.tokens")

__all__ = ["HotFlipConfig", "HotFlipWords", "flip_tokens"]


@register("hotflip")
@dataclass(frozen=True, kw_only=True)
class HotFlipConfig(GuidedConfig):
    """Guided words, plus gradient-guided token swaps towards the student's disagreement."""

    flip_every: int = 4
    """Student steps between token-swap rounds."""
    flip_positions: int = 2
    """Tokens swapped per input per round, each to the word that most raises the student's disagreement."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.flip_every >= 1, f"synthesis.flip_every must be >= 1, got {self.flip_every}")
        check(self.flip_positions >= 1, f"synthesis.flip_positions must be >= 1, got {self.flip_positions}")


def flip_tokens(
    ids: Tensor,
    mask: Tensor,
    gradient: Tensor,
    vocabulary: Tensor,
    words: Tensor,
    positions: int,
    keep: Tensor | None = None,
) -> Tensor:
    """The ids after one HotFlip round.

    Args:
        ids: (B, L) token ids. mask: (B, L). gradient: (B, L, d) ∂D/∂e at the current embeddings.
        vocabulary: (V, d) word embeddings. words: (K,) ids a position may become. positions: swaps per row.
        keep: ids never swapped out (special tokens: a pair's inner separators stay where they are).
    Returns:
        (B, L) int64: at most `positions` free positions per row changed, each to its best word.
    """
    free = tokens.free_positions(mask)
    if keep is not None:
        free &= ~torch.isin(ids, keep)
    strength = gradient.float().norm(dim=-1).masked_fill(~free, -1.0)  # (B, L)
    count = min(positions, strength.shape[1])
    top = strength.topk(count, dim=1).indices  # (B, count)
    valid = free.gather(1, top)
    grads = gradient.float().gather(1, top[..., None].expand(-1, -1, gradient.shape[-1]))  # (B, count, d)
    current = vocabulary[ids.gather(1, top)].float()  # (B, count, d)
    rows = vocabulary[words.to(vocabulary.device)].float()  # (K, d)
    gain = grads @ rows.T - (grads * current).sum(-1, keepdim=True)  # (B, count, K)
    best = words.to(ids.device)[gain.argmax(-1)]  # (B, count)
    improves = (gain.max(-1).values > 0) & valid
    flipped = ids.clone()
    flipped.scatter_(1, top, torch.where(improves, best, ids.gather(1, top)))
    return flipped


@HotFlipConfig.synthesizer
class HotFlipWords(GuidedWords):
    """Guided words, then every `flip_every` steps a round of token swaps that raise teacher-student disagreement."""

    @functools.cached_property
    def special_ids(self) -> torch.Tensor:
        """Ids a swap never replaces (a pair's inner separators stay where they are)."""
        return torch.tensor(self.context.teacher.special.all_special, device=self.context.placement.device)

    def next_batch(self, step: int) -> SynthBatch:
        context = self.context
        ids, mask, logits, hidden = self.select(step)
        if step % self.options.flip_every:
            return SynthBatch(attention_mask=mask, input_ids=ids, teacher_logits=logits, teacher_hidden=hidden)
        vocabulary = context.vocabulary
        embeds = context.teacher.embed_ids(ids).detach().requires_grad_(True)
        with context.placement.autocast():
            teacher_logits = context.teacher.model(inputs_embeds=embeds, attention_mask=mask).logits.float()
            student_logits = context.student(inputs_embeds=embeds, attention_mask=mask).logits.float()
        disagreement = context.teacher.head.kd(student_logits, teacher_logits, 1.0) * len(ids)  # summed over rows
        (gradient,) = torch.autograd.grad(disagreement, embeds)
        flipped = flip_tokens(
            ids, mask, gradient, vocabulary, self.words, self.options.flip_positions, keep=self.special_ids
        )
        changed = float((flipped != ids).float().sum(1).mean())
        return SynthBatch(attention_mask=mask, input_ids=flipped, stats={"flips_per_input": changed})
