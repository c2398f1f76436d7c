"""Synthetic inputs: random-token batches, the layout of a pseudo sample, and the pool of guessed samples.

A sample is `[CLS] x_1 .. x_n [SEP] [PAD]..`; only x_1..x_n ("free" positions) are ever optimised.
All randomness comes from an explicit CPU `torch.Generator`, so runs are reproducible and resumable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from asdfd.compressor.teacher import SpecialTokens

__all__ = ["candidate_token_ids", "vocabulary_rank_weights", "sample_lengths", "layout_ids", "random_token_batch",
           "free_positions", "PseudoPool"]

_UNUSED = re.compile(r"^\[unused\d+\]$|^<.*>$")
_WORD = re.compile(r"^[A-Za-z]+$|^[.,!?;:'\"()\-]$")


def candidate_token_ids(tokenizer, vocab_size: int, special: SpecialTokens, vocab_filter: str = "all") -> torch.Tensor:
    """Vocabulary ids random samples are drawn from: no special or unused tokens.

    With `vocab_filter="words"` only whole alphabetic words and punctuation (no "##" pieces, no other
    scripts), when at least 16 such tokens exist. Returns a sorted int64 tensor.
    """
    excluded = set(special.all_special)
    ids, words = [], []
    for token, index in tokenizer.get_vocab().items():
        if index >= vocab_size or index in excluded or _UNUSED.match(token):
            continue
        ids.append(index)
        core = token.lstrip("Ġ▁")
        if not token.startswith("##") and _WORD.match(core):
            words.append(index)
    chosen = words if vocab_filter == "words" and len(words) >= 16 else ids
    return torch.tensor(sorted(chosen), dtype=torch.long)


def vocabulary_rank_weights(tokenizer, candidates: torch.Tensor, exponent: float = 1.0) -> torch.Tensor:
    """Zipf probabilities over `candidates` from their order in the vocabulary; shape (K,), summing to 1.

    WordPiece and BPE vocabularies list tokens roughly from most to least frequent in the text they were
    built from (BERT's: "the", "of", "and", ... after the alphabet), so p(token) ∝ 1 / rank^exponent
    draws sequences whose unigram statistics look like text's, without any text. Single characters go
    last: WordPiece vocabularies list their whole alphabet (incl. rare scripts) before the first word.
    """
    tokens = {index: token for token, index in tokenizer.get_vocab().items()}
    is_word = torch.tensor([len(tokens.get(int(i), "").lstrip("#").lstrip("Ġ▁")) > 1 for i in candidates])
    order = torch.cat([torch.nonzero(is_word).flatten(), torch.nonzero(~is_word).flatten()])  # candidates are id-sorted
    rank = torch.empty(len(candidates), dtype=torch.float64)
    rank[order] = torch.arange(1, len(candidates) + 1, dtype=torch.float64)
    weights = rank.pow(-exponent)
    return (weights / weights.sum()).float()


def sample_lengths(count: int, min_length: int, max_length: int, generator: torch.Generator) -> torch.Tensor:
    """Lengths in [min_length, max_length], [CLS] and [SEP] included; shape (count,)."""
    return torch.randint(min_length, max_length + 1, (count,), generator=generator)


def layout_ids(body: torch.Tensor, lengths: torch.Tensor, special: SpecialTokens) -> tuple[torch.Tensor, torch.Tensor]:
    """Place `[CLS] body[:n-2] [SEP]` and padding.

    Args:
        body: (B, L) token ids for the free positions (only the first length-2 of each row are used).
        lengths: (B,) total lengths.
    Returns:
        input_ids (B, max(lengths)) and attention_mask (B, max(lengths)), int64.
    """
    width = int(lengths.max())
    positions = torch.arange(width).unsqueeze(0)
    lengths = lengths.unsqueeze(1)
    ids = torch.full((len(lengths), width), special.pad, dtype=torch.long)
    inside = (positions >= 1) & (positions < lengths - 1)
    ids[inside] = body[:, :width][inside]
    ids[:, 0] = special.cls
    ids[positions == lengths - 1] = special.sep
    return ids, (positions < lengths).long()


def free_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that may be optimised: attended and neither the first ([CLS]) nor the last ([SEP]); (B, L) bool."""
    lengths = attention_mask.sum(dim=1, keepdim=True)
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device).unsqueeze(0)
    return (positions >= 1) & (positions < lengths - 1)


def random_token_batch(candidates: torch.Tensor, batch_size: int, min_length: int, max_length: int,
                       special: SpecialTokens, generator: torch.Generator,
                       weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (the naive data-free input): (input_ids, attention_mask), each (B, L) int64 on CPU.

    Tokens are uniform over `candidates`, or drawn with probabilities `weights` (K,) when given.
    """
    lengths = sample_lengths(batch_size, min_length, max_length, generator)
    if weights is None:
        picks = torch.randint(len(candidates), (batch_size, max_length), generator=generator)
    else:
        picks = torch.multinomial(weights, batch_size * max_length, replacement=True,
                                  generator=generator).view(batch_size, max_length)
    return layout_ids(candidates[picks], lengths, special)


@dataclass
class PseudoPool:
    """Guessed samples kept for training: embeddings (N, L, d), attention mask (N, L), targets (N,), and the
    token ids each sample started from (N, L) (for the drift diagnostic).

    Samples are written in order, the oldest replaced first once full (`cursor`); stage 2 writes its
    harder versions back in place, so difficulty follows the student's progress.
    """

    embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    init_ids: torch.Tensor
    filled: int = 0
    cursor: int = 0

    @classmethod
    def empty(cls, size: int, length: int, hidden: int, device: torch.device) -> PseudoPool:
        return cls(embeds=torch.zeros(size, length, hidden, device=device),
                   attention_mask=torch.zeros(size, length, dtype=torch.long, device=device),
                   labels=torch.zeros(size, dtype=torch.long, device=device),
                   init_ids=torch.zeros(size, length, dtype=torch.long, device=device))

    @property
    def size(self) -> int:
        return self.embeds.shape[0]

    def add(self, embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
            init_ids: torch.Tensor) -> None:
        """Append a batch (B, l, d) with l <= L, replacing the oldest samples once the pool is full."""
        count, length = attention_mask.shape
        index = (torch.arange(count) + self.cursor) % self.size
        index = index.to(self.embeds.device)
        self.embeds[index] = 0
        self.attention_mask[index] = 0
        self.embeds[index, :length] = embeds.detach().to(self.embeds.dtype)
        self.attention_mask[index, :length] = attention_mask
        self.labels[index] = labels
        self.init_ids[index] = 0
        self.init_ids[index, :length] = init_ids
        self.cursor = (self.cursor + count) % self.size
        self.filled = min(self.size, self.filled + count)

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """Indices of `count` samples drawn with replacement from the filled part; (count,) int64 on CPU."""
        return torch.randint(self.filled, (count,), generator=generator)

    def get(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Samples trimmed to their longest row: (B, l, d), (B, l), (B,)."""
        index = index.to(self.embeds.device)
        mask = self.attention_mask[index]
        width = int(mask.sum(dim=1).max())
        return self.embeds[index, :width].clone(), mask[:, :width].clone(), self.labels[index].clone()

    def update(self, index: torch.Tensor, embeds: torch.Tensor) -> None:
        """Write back (harder) embeddings for samples `index`; embeds (B, l, d)."""
        index = index.to(self.embeds.device)
        self.embeds[index, : embeds.shape[1]] = embeds.detach().to(self.embeds.dtype)

    def state_dict(self) -> dict:
        return {"embeds": self.embeds.cpu(), "attention_mask": self.attention_mask.cpu(), "labels": self.labels.cpu(),
                "init_ids": self.init_ids.cpu(), "filled": self.filled, "cursor": self.cursor}

    @classmethod
    def from_state_dict(cls, state: dict, device: torch.device) -> PseudoPool:
        return cls(embeds=state["embeds"].to(device), attention_mask=state["attention_mask"].to(device),
                   labels=state["labels"].to(device), init_ids=state["init_ids"].to(device),
                   filled=int(state["filled"]), cursor=int(state["cursor"]))
