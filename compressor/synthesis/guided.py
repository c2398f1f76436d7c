"""Teacher-guided selection: over-generate word sequences, keep the ones that teach the most.

Per batch, `oversample` x batch_size candidates are drawn (`WordTokens`) and scored by one teacher
forward; the kept ones are
- class coverage: for each class in turn, the remaining candidate the teacher finds most likely to be of that
  class, so every class the teacher knows gets training inputs, even one it never predicts on random words
  (multi-label: each label's sigmoid; a score head: the highest and the lowest scores in turn);
- a share `uncertain_fraction` of the most uncertain candidates (near the teacher's boundaries:
  softmax entropy, summed per-label binary entropy, or scores nearest the middle).
The teacher's logits and hidden states on the kept rows serve the student step, so selection costs only the
extra candidates' forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from asdfd.compressor.deferred import deferred
from asdfd.compressor.synthesis.base import SynthBatch
from asdfd.compressor.synthesis.registry import check, register
from asdfd.compressor.synthesis.words import WordsConfig, WordTokens

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

torch = deferred("torch")

__all__ = ["GuidedConfig", "GuidedWords", "select_inputs"]


@register("guided")
@dataclass(frozen=True, kw_only=True)
class GuidedConfig(WordsConfig):
    """Words, over-generated and selected by the teacher."""

    oversample: int = 2
    """Candidate inputs the teacher scores per input kept."""
    uncertain_fraction: float = 0.5
    """Share of the kept inputs taken by highest teacher uncertainty; the rest cover each class in turn."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.oversample >= 1, f"synthesis.oversample must be >= 1, got {self.oversample}")
        check(
            0 <= self.uncertain_fraction <= 1,
            f"synthesis.uncertain_fraction must be in [0, 1], got {self.uncertain_fraction}",
        )


def select_inputs(
    probs: Tensor, size: int, uncertain_fraction: float, offset: int = 0, uncertainty: Tensor | None = None
) -> Tensor:
    """Indices of `size` rows of `probs` (N, C), N >= size: the most uncertain share, then class coverage.

    Uncertainty is `uncertainty` (N,) when given (the head's own: `TaskHead.selection`), else the entropy of the
    rows of `probs`. Class coverage takes, for class (offset + k) % C in turn, the remaining row with the largest
    p(class). Returns (size,) int64, distinct rows.
    """
    count, classes = probs.shape
    size = min(size, count)
    taken = torch.zeros(count, dtype=torch.bool)
    chosen: list[int] = []
    uncertain = round(size * uncertain_fraction)
    if uncertain:
        if uncertainty is None:
            uncertainty = -(probs * probs.clamp(min=1e-12).log()).sum(-1)
        for index in uncertainty.argsort(descending=True)[:uncertain].tolist():
            taken[index] = True
            chosen.append(index)
    order = probs.argsort(dim=0, descending=True)  # (N, C): rows by p(class), per class
    cursor = [0] * classes
    label = offset
    while len(chosen) < size:
        column = label % classes
        while taken[order[cursor[column], column]]:
            cursor[column] += 1
        index = int(order[cursor[column], column])
        taken[index] = True
        chosen.append(index)
        label += 1
    return torch.tensor(chosen, dtype=torch.long)


@GuidedConfig.synthesizer
class GuidedWords(WordTokens):
    """Words, over-generated and selected by the teacher (class coverage + uncertain inputs)."""

    def select(self, step: int) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, ...] | None]:
        """(ids, mask, teacher logits, teacher hidden states or None) of the kept inputs, on the device."""
        context, config = self.context, self.context.config
        size = config.batch_size
        ids, mask = self.sample(size * self.options.oversample)
        device = context.placement.device
        ids, mask = ids.to(device), mask.to(device)
        need_hidden = config.hidden_weight > 0
        with torch.no_grad(), context.placement.autocast():
            out = context.teacher.model(
                inputs_embeds=context.teacher.embed_ids(ids), attention_mask=mask, output_hidden_states=need_hidden
            )
        logits = out.logits.float()
        scores, uncertainty = (x.cpu() for x in context.teacher.head.selection(logits))
        keep = select_inputs(scores, size, self.options.uncertain_fraction, offset=step, uncertainty=uncertainty)
        keep_device = keep.to(device)
        hidden = tuple(h[keep_device] for h in out.hidden_states) if need_hidden else None
        return ids[keep_device], mask[keep_device], logits[keep_device], hidden

    def next_batch(self, step: int) -> SynthBatch:
        ids, mask, logits, hidden = self.select(step)
        return SynthBatch(attention_mask=mask, input_ids=ids, teacher_logits=logits, teacher_hidden=hidden)
