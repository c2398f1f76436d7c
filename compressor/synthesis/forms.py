"""Input forms chosen by the teacher: plain words, short texts, questions, random tokens (single texts) and the
relations pair tasks are made of (edits, negations, short hypotheses, reorderings, unrelated pairs), each built from
the teacher's own tokenizer, mixed in shares a bandit sets from the teacher's and the student's responses.

Random words rarely look like the inputs some teachers were trained on: wh-questions decide a question-type
teacher's classes, and an NLI teacher reads a premise and a short hypothesis that reuses its words (Krishna et al.,
ICLR 2020, queried such teachers with "wh-word + words + ?" and "words, then the same words with a few replaced").
Every form is a sequence of whole vocabulary words drawn by the Zipf prior over vocabulary rank, shaped:

| form | single texts |
| --- | --- |
| tokens | random tokens by the Zipf prior (the naive input) |
| words | whole words, `min_length` to `max_length` tokens |
| short | 1 to 6 words |
| question | a wh-word (what, who, how many, ...) or an auxiliary, then 3 to 14 words, then "?" |

| form | sentence pairs (text_a, text_b) |
| --- | --- |
| edit | b = a with 1 to 3 single-word edits (replace, insert, delete, or a negation word inserted) |
| hypothesis | a long premise; b = a short ordered subset of its words (3 to 8), sometimes negated or edited once |
| reorder | b = a's words shuffled |
| unrelated | b drawn independently of a |
| swap | a hypothesis pair with the short text first |

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
from asdfd.compressor.synthesis.registry import SynthesisConfig, check, register
from asdfd.core.heads import SINGLE_LABEL

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

torch = deferred("torch")
tokens = deferred("asdfd.compressor.synthesis.tokens")
words_module = deferred("asdfd.compressor.synthesis.words")

__all__ = ["FormsConfig", "FormsSynthesizer", "SINGLE_FORMS", "PAIR_FORMS", "form_shares"]

logger = logging.getLogger(__name__)

SINGLE_FORMS = ("tokens", "words", "short", "question")
PAIR_FORMS = ("edit", "hypothesis", "reorder", "unrelated", "swap")

WH_STARTERS = (
    "what", "what is", "what are", "who", "who is", "when", "when did", "where", "where is", "why", "why do", "how",
    "how many", "how much", "how do", "which", "what kind of", "name",
)  # fmt: skip
"""Question openings looked up in the teacher's vocabulary (each kept only if it tokenizes to whole words)."""
AUX_STARTERS = ("is", "are", "does", "do", "did", "can", "was", "will")
"""Openings of yes/no questions."""
NEGATIONS = ("not", "no", "never", "nobody", "nothing")
"""Words a contradicting hypothesis inserts."""


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


class _Vocabulary:
    """The teacher's words and phrases as token ids: Zipf-drawn words, question openings, negations, "?"."""

    def __init__(self, context: SynthContext) -> None:
        self.context = context
        teacher = context.teacher
        self.words, self.weights, _, _ = words_module.word_candidates(context)
        self.vocab_size = context.vocabulary.shape[0]
        self.question_mark = self.phrase("?")
        self.wh = [ids for phrase in WH_STARTERS if (ids := self.phrase(phrase))]
        self.aux = [ids for phrase in AUX_STARTERS if (ids := self.phrase(phrase))]
        self.negations = [ids for phrase in NEGATIONS if (ids := self.phrase(" " + phrase))]
        self.tokenizer = teacher.tokenizer

    def phrase(self, text: str) -> list[int] | None:
        """Token ids of `text` if each of its words is one vocabulary token the model has, else None."""
        tokenizer = self.context.teacher.tokenizer
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        unknown = tokenizer.unk_token_id
        if not ids or len(ids) != len(text.split()) or any(i == unknown or i >= self.vocab_size for i in ids):
            return None
        return list(ids)

    def draw(self, count: int) -> list[int]:
        """`count` word ids by the Zipf prior."""
        if count <= 0:
            return []
        picks = torch.multinomial(self.weights, count, replacement=True, generator=self.context.generator)
        return self.words[picks].tolist()


def _randint(low: int, high: int, generator) -> int:
    """Uniform in [low, high] (inclusive), from the run's generator."""
    return low + int(torch.randint(0, high - low + 1, (1,), generator=generator))


@FormsConfig.synthesizer
class FormsSynthesizer(Synthesizer):
    """Batches mixing the available forms in the allocator's shares; `extra_loss` only observes (adds no loss)."""

    def __init__(self, context: SynthContext) -> None:
        super().__init__(context)
        self.vocab = _Vocabulary(context)
        self.pairs = context.teacher.pairs
        wanted = PAIR_FORMS if self.pairs else SINGLE_FORMS
        self.skipped: dict[str, str] = {}
        if not self.pairs and (len(self.vocab.wh) + len(self.vocab.aux) < 3 or self.vocab.question_mark is None):
            self.skipped["question"] = "the vocabulary lacks English question words or '?'"
        if self.pairs and len(self.vocab.negations) < 1:
            logger.info("forms: no negation word in the vocabulary; edits only replace, insert and delete")
        self.forms = tuple(form for form in wanted if form not in self.skipped)
        for form, why in self.skipped.items():
            logger.info("forms: %s skipped (%s)", form, why)
        count = len(self.forms)
        self.shares = [1.0 / count] * count
        self.rewards = [0.0] * count
        self.seen = [0] * count
        self.class_counts = torch.zeros(count, context.teacher.num_labels, dtype=torch.long)

    # ---- building one form -----------------------------------------------------------------------------------
    def _content(self) -> int:
        """Most tokens between the special tokens."""
        config, special = self.context.config, self.context.teacher.special
        return config.max_length - 2 - (special.pair_separators if self.pairs else 0)

    def _single(self, form: str) -> list[int]:
        config, generator = self.context.config, self.context.generator
        most = self._content()
        least = max(1, min(config.min_length - 2, most))
        if form == "words":
            return self.vocab.draw(_randint(least, most, generator))
        if form == "short":
            return self.vocab.draw(_randint(1, min(6, most), generator))
        if form == "question":
            openings = self.vocab.wh + self.vocab.aux
            opening = openings[_randint(0, len(openings) - 1, generator)]
            body = self.vocab.draw(_randint(3, max(3, min(14, most - len(opening) - 1)), generator))
            return (opening + body)[: most - 1] + self.vocab.question_mark
        raise ValueError(f"unknown single-text form {form!r}")

    def _edited(self, text: list[int], edits: int) -> list[int]:
        generator, out = self.context.generator, list(text)
        kinds = 4 if self.vocab.negations else 3
        for _ in range(edits):
            kind, where = _randint(0, kinds - 1, generator), _randint(0, max(len(out) - 1, 0), generator)
            if kind == 0 and out:  # replace
                out[where] = self.vocab.draw(1)[0]
            elif kind == 1:  # insert
                out.insert(where, self.vocab.draw(1)[0])
            elif kind == 2 and len(out) > 1:  # delete
                del out[where]
            elif kind == 3:  # negate
                out[where:where] = self.vocab.negations[_randint(0, len(self.vocab.negations) - 1, generator)]
        return out

    def _subset(self, text: list[int]) -> list[int]:
        """An ordered subset of 3 to 8 of `text`'s words (a short hypothesis)."""
        keep = min(len(text), _randint(3, 8, self.context.generator))
        order = torch.randperm(len(text), generator=self.context.generator)[:keep].sort().values
        return [text[i] for i in order.tolist()]

    def _pair(self, form: str) -> tuple[list[int], list[int]]:
        generator, most = self.context.generator, self._content()
        least = max(2, min(self.context.config.min_length - 4, most))
        if form in ("hypothesis", "swap"):
            premise = self.vocab.draw(_randint(max(least, 8), max(least, 8, most - 8), generator))
            hypothesis = self._subset(premise)
            if _randint(0, 2, generator) == 0:
                hypothesis = self._edited(hypothesis, 1)
            return (hypothesis, premise) if form == "swap" else (premise, hypothesis)
        a = self.vocab.draw(_randint(least // 2 + 1, max(least // 2 + 1, most // 2 - 2), generator))
        if form == "edit":
            return a, self._edited(a, _randint(1, 3, generator))
        if form == "reorder":
            return a, [a[i] for i in torch.randperm(len(a), generator=generator).tolist()]
        if form == "unrelated":
            return a, self.vocab.draw(_randint(2, max(2, most - len(a)), generator))
        raise ValueError(f"unknown pair form {form!r}")

    def _frame(self, rows: list[list[int]]) -> tuple[Tensor, Tensor]:
        """(input_ids, attention_mask) of framed rows, padded to the longest, on CPU."""
        width = max(len(row) for row in rows)
        pad = self.context.teacher.special.pad
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[index, : len(row)] = 1
        return ids, mask

    def _framed(self, form: str) -> list[int]:
        special, most = self.context.teacher.special, self._content()
        if not self.pairs:
            return [special.cls, *self._single(form)[:most], special.sep]
        a, b = self._pair(form)
        a = a[: max(1, most - 1)]
        b = b[: max(1, most - len(a))]
        return [special.cls, *a, *([special.sep] * special.pair_separators), *b, special.sep]

    # ---- the interface ---------------------------------------------------------------------------------------
    def next_batch(self, step: int) -> SynthBatch:
        context, config = self.context, self.context.config
        counts = batch_counts(self.shares, config.batch_size)
        rows: list[list[int]] = []
        form_of: list[int] = []
        for index, (form, count) in enumerate(zip(self.forms, counts)):
            if count == 0:
                continue
            if form == "tokens":
                ids, mask = tokens.random_token_batch(
                    context.candidates,
                    count,
                    config.min_length,
                    config.max_length,
                    context.teacher.special,
                    context.generator,
                    context.token_weights,
                )
                rows += [row[: int(length)].tolist() for row, length in zip(ids, mask.sum(1))]
            else:
                rows += [self._framed(form) for _ in range(count)]
            form_of += [index] * count
        ids, mask = self._frame(rows)
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
