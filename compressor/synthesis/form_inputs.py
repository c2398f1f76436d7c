"""Inputs of a given *form*, built from the teacher's own tokenizer: the shapes real inputs of a task take.

Random words rarely look like the inputs some teachers were trained on: wh-questions decide a question-type
teacher's classes, and an NLI teacher reads a premise and a short hypothesis that reuses its words (Krishna et al.,
ICLR 2020, queried such teachers with "wh-word + words + ?" and "words, then the same words with a few replaced").
Every form is a sequence of whole vocabulary words drawn by the Zipf prior over vocabulary rank (the `forms`
method can split words of single texts into "##" pieces, as real text does: `word_pieces`), shaped:

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

The `forms` synthesizer trains on them in shares the teacher sets; the loop's held-out probes
(`asdfd.compressor.probes`) measure the student on each, whatever the method. A form whose words the vocabulary
lacks (a non-English tokenizer has no "what") is not available (`FormBuilder.skipped` says why).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd.compressor.deferred import deferred

if TYPE_CHECKING:  # pragma: no cover
    from torch import Generator, Tensor

    from asdfd.compressor.synthesis.base import SynthContext

torch = deferred("torch")
tokens = deferred("asdfd.compressor.synthesis.tokens")
words_module = deferred("asdfd.compressor.synthesis.words")

__all__ = ["SINGLE_FORMS", "PAIR_FORMS", "PLAIN_FORMS", "FormBuilder"]

SINGLE_FORMS = ("tokens", "words", "short", "question")
PAIR_FORMS = ("edit", "hypothesis", "reorder", "unrelated", "swap")
PLAIN_FORMS = ("tokens", "words")
"""The plain single-text forms: what the other forms are compared with (novelty, the first two probes)."""

WH_STARTERS = (
    "what", "what is", "what are", "who", "who is", "when", "when did", "where", "where is", "why", "why do", "how",
    "how many", "how much", "how do", "which", "what kind of", "name",
)  # fmt: skip
"""Question openings looked up in the teacher's vocabulary (each kept only if it tokenizes to whole words)."""
AUX_STARTERS = ("is", "are", "does", "do", "did", "can", "was", "will")
"""Openings of yes/no questions."""
NEGATIONS = ("not", "no", "never", "nobody", "nothing")
"""Words a contradicting hypothesis inserts."""


def _randint(low: int, high: int, generator: Generator) -> int:
    """Uniform in [low, high] (inclusive), from `generator`."""
    return low + int(torch.randint(0, high - low + 1, (1,), generator=generator))


class FormBuilder:
    """Rows of token ids of each available form, every draw from `generator` (reproducible, resumable)."""

    def __init__(self, context: SynthContext, generator: Generator, word_pieces: float = 0.0) -> None:
        """`word_pieces`: chance that a word of a single-text form (not its first) is a "##" continuation piece,
        as in real text and the `words` method; pair forms always draw whole words."""
        self.context, self.generator = context, generator
        teacher = context.teacher
        self.pairs = teacher.pairs
        self.words, self.weights, self.pieces, self.piece_weights = words_module.word_candidates(context)
        self.word_pieces = 0.0 if self.pairs or not len(self.pieces) else word_pieces
        self.vocab_size = context.vocabulary.shape[0]
        self.question_mark = self.phrase("?")
        self.wh = [ids for phrase in WH_STARTERS if (ids := self.phrase(phrase))]
        self.aux = [ids for phrase in AUX_STARTERS if (ids := self.phrase(phrase))]
        self.negations = [ids for phrase in NEGATIONS if (ids := self.phrase(" " + phrase))]
        self.skipped: dict[str, str] = {}
        if not self.pairs and (len(self.wh) + len(self.aux) < 3 or self.question_mark is None):
            self.skipped["question"] = "the vocabulary lacks English question words or '?'"
        wanted = PAIR_FORMS if self.pairs else SINGLE_FORMS
        self.forms = tuple(form for form in wanted if form not in self.skipped)
        """The forms this teacher's vocabulary can build, in a fixed order."""

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
        picks = torch.multinomial(self.weights, count, replacement=True, generator=self.generator)
        return self.words[picks].tolist()

    def text(self, count: int) -> list[int]:
        """`count` tokens of a single text: words by the Zipf prior, each after the first a "##" piece (by its own
        Zipf prior) with chance `word_pieces` (`words.split_words`)."""
        ids = self.draw(count)
        if count <= 1:
            return ids
        row = torch.tensor([ids], dtype=torch.long)
        split = words_module.split_words(row, self.pieces, self.piece_weights, self.word_pieces, self.generator)
        return split[0].tolist()

    # ---- one form ------------------------------------------------------------------------------------------
    def _content(self) -> int:
        """Most tokens between the special tokens."""
        config, special = self.context.config, self.context.teacher.special
        return config.max_length - 2 - (special.pair_separators if self.pairs else 0)

    def _single(self, form: str) -> list[int]:
        config, generator = self.context.config, self.generator
        most = self._content()
        least = max(1, min(config.min_length - 2, most))
        if form == "words":
            return self.text(_randint(least, most, generator))
        if form == "short":
            return self.text(_randint(1, min(6, most), generator))
        if form == "question":
            openings = self.wh + self.aux
            opening = openings[_randint(0, len(openings) - 1, generator)]
            body = self.text(_randint(3, max(3, min(14, most - len(opening) - 1)), generator))
            return (opening + body)[: most - 1] + self.question_mark
        raise ValueError(f"unknown single-text form {form!r}")

    def _edited(self, text: list[int], edits: int) -> list[int]:
        generator, out = self.generator, list(text)
        kinds = 4 if self.negations else 3
        for _ in range(edits):
            kind, where = _randint(0, kinds - 1, generator), _randint(0, max(len(out) - 1, 0), generator)
            if kind == 0 and out:  # replace
                out[where] = self.draw(1)[0]
            elif kind == 1:  # insert
                out.insert(where, self.draw(1)[0])
            elif kind == 2 and len(out) > 1:  # delete
                del out[where]
            elif kind == 3:  # negate
                out[where:where] = self.negations[_randint(0, len(self.negations) - 1, generator)]
        return out

    def _subset(self, text: list[int]) -> list[int]:
        """An ordered subset of 3 to 8 of `text`'s words (a short hypothesis)."""
        keep = min(len(text), _randint(3, 8, self.generator))
        order = torch.randperm(len(text), generator=self.generator)[:keep].sort().values
        return [text[i] for i in order.tolist()]

    def _pair(self, form: str) -> tuple[list[int], list[int]]:
        generator, most = self.generator, self._content()
        least = max(2, min(self.context.config.min_length - 4, most))
        if form in ("hypothesis", "swap"):
            premise = self.draw(_randint(max(least, 8), max(least, 8, most - 8), generator))
            hypothesis = self._subset(premise)
            if _randint(0, 2, generator) == 0:
                hypothesis = self._edited(hypothesis, 1)
            return (hypothesis, premise) if form == "swap" else (premise, hypothesis)
        a = self.draw(_randint(least // 2 + 1, max(least // 2 + 1, most // 2 - 2), generator))
        if form == "edit":
            return a, self._edited(a, _randint(1, 3, generator))
        if form == "reorder":
            return a, [a[i] for i in torch.randperm(len(a), generator=generator).tolist()]
        if form == "unrelated":
            return a, self.draw(_randint(2, max(2, most - len(a)), generator))
        raise ValueError(f"unknown pair form {form!r}")

    def _framed(self, form: str) -> list[int]:
        special, most = self.context.teacher.special, self._content()
        if not self.pairs:
            return [special.cls, *self._single(form)[:most], special.sep]
        a, b = self._pair(form)
        a = a[: max(1, most - 1)]
        b = b[: max(1, most - len(a))]
        return [special.cls, *a, *([special.sep] * special.pair_separators), *b, special.sep]

    def rows(self, form: str, count: int) -> list[list[int]]:
        """`count` framed rows ([CLS] ... [SEP], unpadded) of `form`."""
        if form != "tokens":
            return [self._framed(form) for _ in range(count)]
        context, config = self.context, self.context.config
        ids, mask = tokens.random_token_batch(
            context.candidates,
            count,
            config.min_length,
            config.max_length,
            context.teacher.special,
            self.generator,
            context.token_weights,
        )
        return [row[: int(length)].tolist() for row, length in zip(ids, mask.sum(1))]

    def frame(self, rows: list[list[int]]) -> tuple[Tensor, Tensor]:
        """(input_ids, attention_mask) of framed rows, padded to the longest, on CPU."""
        width = max(len(row) for row in rows)
        pad = self.context.teacher.special.pad
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[index, : len(row)] = 1
        return ids, mask
