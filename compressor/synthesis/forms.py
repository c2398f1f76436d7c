"""Input forms chosen by the teacher: plain words, short texts, questions, random tokens (single texts) and the
relations pair tasks are made of (edits, negations, short hypotheses, reorderings, unrelated pairs), each built from
the teacher's own tokenizer (`asdfd.compressor.synthesis.form_inputs`, which describes each form), mixed in shares
a bandit sets from the teacher's and the student's responses.

The allocator: each form's share of a batch starts equal; after `warmup` observations of every form it follows
reward = the student's KD loss on that form (how much there is left to learn there) x (0.5 + 0.5 x the teacher's
class coverage on it: the normalized entropy of its predicted classes, so a form the teacher answers with one
class counts half) x novelty, each form keeping at least `min_share`. Novelty (off by default: `novelty_scale` 0
pays every form in full) pays a form beyond plain tokens and words only for what the plain forms do not teach:
the total-variation distance between the teacher's class histogram on it and on the plain forms, divided by
`novelty_scale` and capped at 1 (a teacher with a class for questions answers them unlike random words: full pay;
a review teacher answers them as it answers words: little beyond the floor). The plain forms, pair forms (no plain
form to compare with) and heads without classes keep 1.
Shares are recomputed every `update_every` steps from running means; counts per batch are a deterministic rounding
of the shares (no extra random draw), so runs stay reproducible and resumable. A form whose words the vocabulary
lacks (a non-English tokenizer has no "what") is skipped with a log line. The shares, rewards, coverage and novelty
go into `distill.json` (the `forms` diagnostics).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asdfd.compressor.deferred import deferred
from asdfd.compressor.synthesis.base import SynthBatch, SynthContext, Synthesizer
from asdfd.compressor.synthesis.form_inputs import PAIR_FORMS, PLAIN_FORMS, SINGLE_FORMS, FormBuilder
from asdfd.compressor.synthesis.registry import SynthesisConfig, check, register
from asdfd.core.heads import SINGLE_LABEL

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

torch = deferred("torch")

__all__ = ["FormsConfig", "FormsSynthesizer", "SINGLE_FORMS", "PAIR_FORMS", "form_shares", "form_novelty"]

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
    word_pieces: float = 0.0
    """Chance that a word of a single-text form (not its first) is a "##" continuation piece, as in real text (the
    `words` method uses 0.1). Pair forms draw whole words. With `novelty_scale` 0.5 it measured level with the
    default on SST-2 and emotion (docs/distill_results.md, session 9), so it stays off."""
    novelty_scale: float = 0.0
    """Total-variation distance from the plain forms' class histogram at which a form beyond plain tokens and words
    is paid in full; 0 pays every form in full (the default: 0.5 bought nothing measurable, see `word_pieces`)."""

    def __post_init__(self) -> None:
        check(0 <= self.min_share <= 0.2, f"synthesis.min_share must be in [0, 0.2], got {self.min_share}")
        check(self.warmup >= 1, f"synthesis.warmup must be >= 1, got {self.warmup}")
        check(self.update_every >= 1, f"synthesis.update_every must be >= 1, got {self.update_every}")
        check(0 <= self.smoothing < 1, f"synthesis.smoothing must be in [0, 1), got {self.smoothing}")
        check(0 <= self.word_pieces < 1, f"synthesis.word_pieces must be in [0, 1), got {self.word_pieces}")
        check(0 <= self.novelty_scale <= 1, f"synthesis.novelty_scale must be in [0, 1], got {self.novelty_scale}")


RULE = "share = min_share + rest x KD x (0.5 + 0.5 x coverage) / sum over forms"
NOVELTY_RULE = (
    " (KD x novelty, novelty = min(1, TV(the teacher's classes there, on tokens + words) / {scale}); 1 for tokens, "
    "words and pair forms)"
)


def form_shares(
    rewards: list[float], coverage: list[float], min_share: float, pay: list[float] | None = None
) -> list[float]:
    """Each form's share of a batch: proportional to reward x (0.5 + 0.5 x coverage) x pay, at least `min_share`
    each.

    Args:
        rewards: per form, the student's running KD loss there (>= 0).
        coverage: per form, the normalized entropy of the teacher's predicted classes there, in [0, 1].
        pay: per form, the novelty factor in [0, 1] (`form_novelty`); None pays every form in full.
    Returns:
        Shares summing to 1.
    """
    pay = pay if pay is not None else [1.0] * len(rewards)
    weights = [max(r, 0.0) * (0.5 + 0.5 * c) * p for r, c, p in zip(rewards, coverage, pay)]
    total, count = sum(weights), len(weights)
    if total <= 0 or not math.isfinite(total):
        return [1.0 / count] * count
    free = 1.0 - min_share * count
    return [min_share + free * w / total for w in weights]


def form_novelty(class_counts: Tensor, plain: list[bool], scale: float) -> list[float]:
    """Per form, how much of its pay it earns: 1 for a plain form, else min(1, TV(its class histogram, the plain
    forms' pooled histogram) / scale); all 1 when there is no plain form, no class count yet, or `scale` is 0.

    Args:
        class_counts: (forms, classes) how often the teacher predicted each class on each form.
        plain: per form, whether it is a plain form (tokens, words).
        scale: the distance paid in full.
    """
    base = class_counts[torch.tensor(plain, dtype=torch.bool)].sum(0).double() if any(plain) else None
    if base is None or scale <= 0 or float(base.sum()) <= 0:
        return [1.0] * len(plain)
    base = base / base.sum()
    pay = []
    for counts, is_plain in zip(class_counts, plain):
        total = float(counts.sum())
        if is_plain or total <= 0:
            pay.append(1.0)
            continue
        distance = 0.5 * float((counts.double() / total - base).abs().sum())
        pay.append(min(1.0, distance / scale))
    return pay


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
        self.builder = FormBuilder(context, context.generator, self.options.word_pieces)
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

    def novelty(self) -> list[float]:
        """Per form, its novelty factor so far (`form_novelty`): the teacher's class histograms against plain text's."""
        plain = [form in PLAIN_FORMS for form in self.forms]
        return form_novelty(self.class_counts, plain, self.options.novelty_scale)

    def after_step(self, step: int) -> None:
        options = self.options
        if step % options.update_every or min(self.seen) < options.warmup:
            return
        self.shares = form_shares(self.rewards, self.coverage(), options.min_share, self.novelty())

    def diagnostics(self, final: bool = False) -> dict[str, Any]:
        coverage, pay = self.coverage(), self.novelty()
        return {
            "forms": {
                form: {
                    "share": round(self.shares[i], 4),
                    "kd": round(self.rewards[i], 4),
                    "coverage": round(coverage[i], 4),
                    "novelty": round(pay[i], 4),
                    "observed": self.seen[i],
                }
                for i, form in enumerate(self.forms)
            },
            "forms_skipped": dict(self.skipped),
            "forms_rule": RULE
            + (NOVELTY_RULE.format(scale=self.options.novelty_scale) if self.options.novelty_scale else ""),
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
