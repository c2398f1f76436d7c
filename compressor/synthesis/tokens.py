"""Token-level pieces every synthesizer uses: candidate tokens, the Zipf prior, the layout of a sample, random batches.

A sample is `[CLS] x_1 .. x_n [SEP] [PAD]..`; only x_1..x_n ("free" positions) are ever optimised.
All randomness comes from an explicit CPU `torch.Generator`, so runs are reproducible and resumable.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from asdfd.core.special_tokens import SpecialTokens

__all__ = [
    "candidate_token_ids",
    "vocabulary_rank_weights",
    "sample_lengths",
    "layout_ids",
    "random_token_batch",
    "free_positions",
    "nearest_token_ids",
]

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
    """Place `[CLS] body[:n-2] [SEP]` and padding (`SpecialTokens.frame`, as CPU tensors).

    Args:
        body: (B, L) token ids for the free positions (only the first length-2 of each row are used).
        lengths: (B,) total lengths.
    Returns:
        input_ids (B, max(lengths)) and attention_mask (B, max(lengths)), int64.
    """
    ids, mask = special.frame(body.cpu().numpy(), lengths.cpu().numpy())
    return torch.from_numpy(ids), torch.from_numpy(mask)


def free_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that may be optimised: attended and neither the first ([CLS]) nor the last ([SEP]); (B, L) bool."""
    lengths = attention_mask.sum(dim=1, keepdim=True)
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device).unsqueeze(0)
    return (positions >= 1) & (positions < lengths - 1)


def random_token_batch(
    candidates: torch.Tensor,
    batch_size: int,
    min_length: int,
    max_length: int,
    special: SpecialTokens,
    generator: torch.Generator,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (the naive data-free input): (input_ids, attention_mask), each (B, L) int64 on CPU.

    Tokens are uniform over `candidates`, or drawn with probabilities `weights` (K,) when given.
    """
    lengths = sample_lengths(batch_size, min_length, max_length, generator)
    if weights is None:
        picks = torch.randint(len(candidates), (batch_size, max_length), generator=generator)
    else:
        picks = torch.multinomial(weights, batch_size * max_length, replacement=True, generator=generator).view(
            batch_size, max_length
        )
    return layout_ids(candidates[picks], lengths, special)


def nearest_token_ids(
    embeds: Tensor, vocabulary: Tensor, candidates: Tensor | None = None, chunk: int = 2048
) -> Tensor:
    """Nearest vocabulary row (L2) for each embedding: (..., d) -> (...) int64.

    Args:
        candidates: (K,) ids to choose from (e.g. no special tokens: in random-init models [PAD] is the zero
            vector and would be "nearest" to everything); None = the whole vocabulary.
    """
    flat = embeds.reshape(-1, embeds.shape[-1]).float()
    rows = vocabulary.float() if candidates is None else vocabulary[candidates.to(vocabulary.device)].float()
    squared_norms = (rows**2).sum(-1)
    out = [(part @ rows.T * 2 - squared_norms).argmax(-1) for part in flat.split(chunk)]
    index = torch.cat(out) if out else flat.new_zeros(0, dtype=torch.long)
    if candidates is not None:
        index = candidates.to(index.device)[index]
    return index.reshape(embeds.shape[:-1])
