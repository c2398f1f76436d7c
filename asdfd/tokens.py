"""The special tokens synthetic inputs are framed with, read once from a tokenizer. Torch-free.

A generated sequence is `[CLS] x_1 .. x_n [SEP] [PAD]..` (RoBERTa: `<s> .. </s> <pad>`); x_i are drawn from the
ordinary tokens (every id below the model's vocabulary size that is not special). [MASK] is needed only by the
AS-DFD self-supervised task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from asdfd.errors import ModelLoadError

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
        lengths = np.asarray(lengths, dtype=np.int64)[:, None]
        width = int(lengths.max())
        positions = np.arange(width)[None, :]
        inside = (positions >= 1) & (positions < lengths - 1)
        ids = np.full((len(lengths), width), self.pad, dtype=np.int64)
        ids[inside] = np.asarray(body, dtype=np.int64)[:, :width][inside]
        ids[:, 0] = self.cls
        ids[positions == lengths - 1] = self.sep
        return ids, (positions < lengths).astype(np.int64)
