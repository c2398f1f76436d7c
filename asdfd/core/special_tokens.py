"""The special tokens synthetic inputs are framed with, read once from a tokenizer. Torch-free.

A generated sequence is `[CLS] x_1 .. x_n [SEP] [PAD]..` (RoBERTa: `<s> .. </s> <pad>`); x_i are drawn from the
ordinary tokens (every id below the model's vocabulary size that is not special). For a sentence-pair model it is
`[CLS] a [SEP] b [SEP]` (RoBERTa: `<s> a </s></s> b </s>`), with segment ids 1 from b on where the family uses
them. [MASK] is needed only by the AS-DFD self-supervised task.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from asdfd.core.errors import ModelLoadError

__all__ = ["SpecialTokens"]


@dataclass(frozen=True)
class SpecialTokens:
    cls: int
    """[CLS] / <s>: first token of every sequence."""
    sep: int
    """[SEP] / </s>: last token of every sequence."""
    pad: int
    """[PAD] / <pad>: after the last token."""
    mask: int | None
    """[MASK] / <mask>; None when the tokenizer has none."""
    all_special: tuple[int, ...]
    """Every special id (never drawn as an ordinary token)."""
    vocab_size: int
    """Ids usable as input: the model's embedding rows (at most the tokenizer's size)."""
    pair_separators: int = 0
    """Sentence pairs: separators between the two texts ([SEP]: 1; RoBERTa's </s></s>: 2). 0: single texts."""

    @classmethod
    def from_tokenizer(
        cls, tokenizer: Any, vocab_size: int, *, source: str = "the tokenizer", require_mask: bool = False
    ) -> SpecialTokens:
        """From a transformers tokenizer (BERT: [CLS]/[SEP]; RoBERTa: <s>/</s>, its bos/eos).

        Raises:
            ModelLoadError: no [CLS]/[SEP] (or bos/eos), or no [MASK] when `require_mask`.
        """
        ids: dict[str, int | None] = {}
        for role, fallback in (("cls", "bos"), ("sep", "eos"), ("mask", None), ("pad", None)):
            value = getattr(tokenizer, f"{role}_token_id", None)
            if value is None and fallback:
                value = getattr(tokenizer, f"{fallback}_token_id", None)
            ids[role] = None if value is None else int(value)
        missing = [role for role in ("cls", "sep") + (("mask",) if require_mask else ()) if ids[role] is None]
        if missing:
            raise ModelLoadError(f"{source} has no {'/'.join(missing)} token: a BERT-family tokenizer is needed")
        return cls(
            cls=ids["cls"],
            sep=ids["sep"],
            pad=ids["pad"] if ids["pad"] is not None else 0,  # type: ignore[arg-type]
            mask=ids["mask"],
            all_special=tuple(sorted({int(i) for i in tokenizer.all_special_ids})),
            vocab_size=min(int(vocab_size), len(tokenizer)),
        )

    def for_pairs(self, separators: int) -> SpecialTokens:
        """The same tokens, framing sentence pairs with `separators` separators between the texts."""
        return dataclasses.replace(self, pair_separators=int(separators))

    @property
    def pairs(self) -> bool:
        return self.pair_separators > 0

    @property
    def min_length(self) -> int:
        """The shortest framed sequence: [CLS] x [SEP] (pairs: [CLS] a [SEP].. b [SEP])."""
        return 4 + self.pair_separators if self.pairs else 3

    def segment_ids(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """token_type_ids as BERT's tokenizers make them: 1 after the first [SEP] (the second text), else 0; all
        zeros for single texts, whose only [SEP] is their last token."""
        is_sep = np.asarray(input_ids) == self.sep
        before = np.cumsum(is_sep, axis=1) - is_sep
        return ((before >= 1) & (np.asarray(attention_mask) == 1)).astype(np.int64)

    def ordinary_ids(self) -> np.ndarray:
        """Ids of the ordinary tokens, ascending, int64."""
        ids = np.arange(self.vocab_size, dtype=np.int64)
        return ids[~np.isin(ids, np.asarray(self.all_special, dtype=np.int64))]

    def frame(self, body: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`[CLS] body[:n-2] [SEP] [PAD]..` per row: the one layout of every generated sequence.

        Args:
            body: (B, L) int token ids for the free positions (only the first length-2 of each row are used).
            lengths: (B,) total lengths, [CLS] and [SEP] included (each >= 2).
        Returns:
            input_ids and attention_mask, each (B, max(lengths)) int64.
        """
        if self.pairs:
            return self._frame_pairs(np.asarray(body, dtype=np.int64), np.asarray(lengths, dtype=np.int64))
        lengths = np.asarray(lengths, dtype=np.int64)[:, None]
        width = int(lengths.max())
        positions = np.arange(width)[None, :]
        inside = (positions >= 1) & (positions < lengths - 1)
        ids = np.full((len(lengths), width), self.pad, dtype=np.int64)
        ids[inside] = np.asarray(body, dtype=np.int64)[:, :width][inside]
        ids[:, 0] = self.cls
        ids[positions == lengths - 1] = self.sep
        return ids, (positions < lengths).astype(np.int64)

    def _frame_pairs(self, body: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`[CLS] a [SEP]*s b [SEP]` per row, `lengths` tokens in all (at least `min_length`).

        The split falls near the middle (a quarter either way); in every other row b is a copy of a's start with a
        third of its tokens replaced, so pair classifiers also see related texts (paraphrase, entailment), not only
        unrelated ones. Both choices are read from the body's own random tokens: the layout stays a pure function.
        """
        lengths = np.maximum(lengths, self.min_length)
        width = int(lengths.max())
        ids = np.full((len(lengths), width), self.pad, dtype=np.int64)
        for row, length in enumerate(lengths):
            tokens = body[row]
            content = int(length) - 2 - self.pair_separators
            jitter = int(tokens[-1]) % (content // 2 + 1) - content // 4
            split = min(max(content // 2 + jitter, 1), content - 1)
            first = tokens[:split]
            second = tokens[split:content].copy()
            if int(tokens[1]) % 2 == 0:  # a related pair
                copied = np.resize(first, len(second))
                keep = (np.arange(len(second)) + int(tokens[2])) % 3 != 0
                second = np.where(keep, copied, second)
            seps = [self.sep] * self.pair_separators
            ids[row, :length] = [self.cls, *first, *seps, *second, self.sep]
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        return ids, mask
