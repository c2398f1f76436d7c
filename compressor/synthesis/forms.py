"""Input forms chosen by the teacher: plain words, short texts, questions, random tokens (single texts) and the
relations pair tasks are made of (edits, negations, short hypotheses, reorderings, unrelated pairs), each built from
the teacher's own tokenizer (`asdfd.compressor.synthesis.form_inputs`, which describes each form), mixed in shares
a bandit sets from the teacher's and the student's responses.

The allocator: each form's share of a batch starts equal; after `warmup` observations of every form it follows
reward = the student's KD loss on that form (how much there is left to learn there) x (0.5 + 0.5 x the teacher's
class coverage on it: the normalized entropy of its predicted classes, so a form the teacher answers with one
class counts half), each form keeping at least `min_share`. Shares are recomputed every `update_every` steps from
running means; counts per batch are a deterministic rounding of the shares (no extra random draw), so runs stay
reproducible and resumable. A form whose words the vocabulary lacks (a non-English tokenizer has no "what") is
skipped with a log line. The shares, rewards and coverage go into `distill.json` (the `forms` diagnostics).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asdfd.compressor.deferred import deferred
from asdfd.compressor.synthesis.base import SynthBatch, SynthContext, Synthesizer
from asdfd.compressor.synthesis.form_inputs import PAIR_FORMS, SINGLE_FORMS, FormBuilder
from asdfd.compressor.synthesis.registry import SynthesisConfig, check, register
from asdfd.core.heads import SINGLE_LABEL

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

torch = deferred("torch")

__all__ = ["FormsConfig", "FormsSynthesizer", "SINGLE_FORMS", "PAIR_FORMS", "form_shares"]

logger = logging.getLogger(__name__)


@register("forms")
@dataclass(frozen=True, kw_only=True)
class FormsConfig(SynthesisConfig):
    """Input forms (words, short texts, questions, pair relations) mixed in shares the teacher's responses set."""

    min_share: float = 0.05
    """Smallest share of a batch any available form keeps."""
    warmup: int = 4
    """Observations of every form before the shares follow the rewards."""
    update_every: int = 10
    """Steps between two recomputations of the shares."""
    smoothing: float = 0.9
    """Weight of the past in each form's running reward."""

    def __post_init__(self) -> None:
        check(0 <= self.min_share <= 0.2, f"synthesis.min_share must be in [0, 0.2], got {self.min_share}")
        check(self.warmup >= 1, f"synthesis.warmup must be >= 1, got {self.warmup}")
        check(self.update_every >= 1, f"synthesis.update_every must be >= 1, got {self.update_every}")
        check(0 <= self.smoothing < 1, f"synthesis.smoothing must be in [0, 1), got {self.smoothing}")


def form_shares(rewards: list[float], coverage: list[float], min_share: float) -> list[float]:
    """Each form's share of a batch: proportional to reward x (0.5 + 0.5 x coverage), at least `min_share` each.

    Args:
        rewards: per form, the student's running KD loss there (>= 0).
        coverage: per form, the normalized entropy of the teacher's predicted classes there, in [0, 1].
    Returns:
        Shares summing to 1.
    """
    weights = [max(r, 0.0) * (0.5 + 0.5 * c) for r, c in zip(rewards, coverage)]
    total, count = sum(weights), len(weights)
    if total <= 0 or not math.isfinite(total):
        return [1.0 / count] * count
    free = 1.0 - min_share * count
    return [min_share + free * w / total for w in weights]


def batch_counts(shares: list[float], batch_size: int) -> list[int]:
    """Rows per form: the shares of `batch_size` rounded by largest remainder (deterministic, sums to batch_size)."""
    exact = [share * batch_size for share in shares]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (counts[i] - exact[i], i))
    for index in order[: batch_size - sum(counts)]:
        counts[index] += 1
    return counts


def normalized_entropy(counts: Tensor) -> float:
    """Entropy of a class histogram divided by log(classes): 1 = every class equally often, 0 = one class."""
    total = float(counts.sum())
    if total <= 0 or len(counts) < 2:
        return 1.0
    p = counts.double() / total
    p = p[p > 0]
    return float(-(p * p.log()).sum() / math.log(len(counts)))


@FormsConfig.synthesizer
class FormsSynthesizer(Synthesizer):
    """Batches mixing the available forms in the allocator's shares; `extra_loss` only observes (adds no loss)."""

    def __init__(self, context: SynthContext) -> None:
        super().__init__(context)
        self.builder = FormBuilder(context, context.generator)
        self.skipped = dict(self.builder.skipped)
        if self.builder.pairs and not self.builder.negations:
            logger.info("forms: no negation word in the vocabulary; edits only replace, insert and delete")
        self.forms = self.builder.forms
        for form, why in self.skipped.items():
            logger.info("forms: %s skipped (%s)", form, why)
        count = len(self.forms)
        self.shares = [1.0 / count] * count
        self.rewards = [0.0] * count
        self.seen = [0] * count
        self.class_counts = torch.zeros(count, context.teacher.num_labels, dtype=torch.long)

    # ---- the interface ---------------------------------------------------------------------------------------
    def next_batch(self, step: int) -> SynthBatch:
        context, config = self.context, self.context.config
        counts = batch_counts(self.shares, config.batch_size)
        rows: list[list[int]] = []
        form_of: list[int] = []
        for index, (form, count) in enumerate(zip(self.forms, counts)):
            if count == 0:
                continue
            rows += self.builder.rows(form, count)
            form_of += [index] * count
        ids, mask = self.builder.frame(rows)
        device = context.placement.device
        return SynthBatch(
            attention_mask=mask.to(device),
            input_ids=ids.to(device),
            extra={"form_of": torch.tensor(form_of, dtype=torch.long)},
        )

    def extra_loss(self, batch: SynthBatch, student_out: Any, teacher_out: Any) -> None:
        """Observe each form's KD loss and the teacher's classes on it (no loss is added)."""
        form_of = batch.extra["form_of"]
        head, temperature = self.context.teacher.head, self.context.config.temperature
        student, teacher = student_out.logits.detach().float().cpu(), teacher_out.logits.detach().float().cpu()
        for index in range(len(self.forms)):
            rows = form_of == index
            if not bool(rows.any()):
                continue
            value = float(head.kd(student[rows], teacher[rows], temperature))
            if not math.isfinite(value):
                continue  # the loop stops the run on a non-finite loss; the allocator never learns from one
            past = self.options.smoothing if self.seen[index] else 0.0
            self.rewards[index] = past * self.rewards[index] + (1 - past) * value
            self.seen[index] += 1
            if head.kind == SINGLE_LABEL:
                self.class_counts[index] += head.counts(teacher[rows])
        return None

    def coverage(self) -> list[float]:
        """Per form, the normalized entropy of the teacher's predicted classes so far (1.0 for other heads)."""
        return [normalized_entropy(counts) for counts in self.class_counts]

    def after_step(self, step: int) -> None:
        options = self.options
        if step % options.update_every or min(self.seen) < options.warmup:
            return
        self.shares = form_shares(self.rewards, self.coverage(), options.min_share)

    def diagnostics(self, final: bool = False) -> dict[str, Any]:
        coverage = self.coverage()
        return {
            "forms": {
                form: {
                    "share": round(self.shares[i], 4),
                    "kd": round(self.rewards[i], 4),
                    "coverage": round(coverage[i], 4),
                    "observed": self.seen[i],
                }
                for i, form in enumerate(self.forms)
            },
            "forms_skipped": dict(self.skipped),
            "forms_rule": "share = min_share + rest x KD x (0.5 + 0.5 x coverage) / sum over forms",
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "shares": list(self.shares),
            "rewards": list(self.rewards),
            "seen": list(self.seen),
            "class_counts": self.class_counts.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shares, self.rewards, self.seen = list(state["shares"]), list(state["rewards"]), list(state["seen"])
        self.class_counts = state["class_counts"].clone()
