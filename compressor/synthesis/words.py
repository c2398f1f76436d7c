"""Whole vocabulary words drawn by a Zipf prior: random *words*, not word pieces (Krishna et al., ICLR 2020,
"Thieves on Sesame Street", distilled an SST-2 BERT on random words and kept most of its accuracy).

A sample is `[CLS] w_1 .. w_n [SEP]`: each w_i a word-start token (no "##" continuation piece first),
drawn with p ∝ 1/rank among the words, and with probability `word_pieces` followed by a continuation
piece (so the student also sees split words, as in real text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from asdfd.compressor.deferred import deferred
from asdfd.compressor.synthesis.base import SynthBatch, SynthContext, Synthesizer
from asdfd.compressor.synthesis.registry import SynthesisConfig, check, register

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

torch = deferred("torch")
tokens = deferred("asdfd.compressor.synthesis.tokens")

__all__ = ["WordsConfig", "WordTokens", "word_candidates", "sample_words", "split_words", "WORD_PIECES"]

WORD_PIECES = 0.1
"""Real text splits about one word in ten into a "##" piece."""


@register("words")
@dataclass(frozen=True, kw_only=True)
class WordsConfig(SynthesisConfig):
    """Whole vocabulary words by a Zipf prior."""

    word_pieces: float = WORD_PIECES
    """Chance that a word continues with a "##" piece."""

    def __post_init__(self) -> None:
        check(0 <= self.word_pieces < 1, f"synthesis.word_pieces must be in [0, 1), got {self.word_pieces}")


def word_candidates(context: SynthContext) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(word ids, their Zipf weights, continuation-piece ids, their Zipf weights); continuations may be empty."""
    teacher = context.teacher
    vocab_size = context.vocabulary.shape[0]
    words = tokens.candidate_token_ids(teacher.tokenizer, vocab_size, teacher.special, "words")
    vocab = teacher.tokenizer.get_vocab()
    allowed = set(context.candidates.tolist())
    pieces = sorted(i for token, i in vocab.items() if token.startswith("##") and token[2:].isalpha() and i in allowed)
    pieces_tensor = torch.tensor(pieces, dtype=torch.long)
    piece_weights = tokens.vocabulary_rank_weights(teacher.tokenizer, pieces_tensor) if pieces else torch.zeros(0)
    return words, tokens.vocabulary_rank_weights(teacher.tokenizer, words), pieces_tensor, piece_weights


def sample_words(
    candidates: tuple[Tensor, Tensor, Tensor, Tensor],
    count: int,
    context: SynthContext,
    word_pieces: float,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """(input_ids, attention_mask) of `count` word sequences on CPU, lengths uniform in [min_length, max_length].

    Args:
        candidates: `word_candidates(context)`.
    """
    words, word_weights, pieces, piece_weights = candidates
    config = context.config
    lengths = tokens.sample_lengths(count, config.min_length, config.max_length, generator)
    width = config.max_length
    picks = torch.multinomial(word_weights, count * width, replacement=True, generator=generator)
    body = split_words(words[picks].view(count, width), pieces, piece_weights, word_pieces, generator)
    return tokens.layout_ids(body, lengths, context.teacher.special)


def split_words(
    body: Tensor, pieces: Tensor, piece_weights: Tensor, chance: float, generator: torch.Generator
) -> Tensor:
    """`body` (rows, width) of word ids with each word but a row's first replaced, with probability `chance`, by a
    "##" continuation piece drawn by its Zipf prior (a row never starts mid-word); unchanged, and no draw, when
    `chance` is 0 or there are no pieces."""
    if chance <= 0 or not len(pieces):
        return body
    split = torch.rand(body.shape, generator=generator) < chance
    split[:, 0] = False
    drawn = torch.multinomial(piece_weights, body.numel(), replacement=True, generator=generator)
    return torch.where(split, pieces[drawn].view(body.shape), body)


@WordsConfig.synthesizer
class WordTokens(Synthesizer):
    """Random whole words by the Zipf prior over vocabulary rank, lengths uniform in [min_length, max_length]."""

    def __init__(self, context: SynthContext) -> None:
        super().__init__(context)
        self.candidates = word_candidates(context)
        self.words = self.candidates[0]

    def sample(self, count: int) -> tuple[Tensor, Tensor]:
        """(input_ids, attention_mask) of `count` word sequences, on CPU."""
        return sample_words(self.candidates, count, self.context, self.options.word_pieces, self.context.generator)

    def next_batch(self, step: int) -> SynthBatch:
        ids, mask = self.sample(self.context.config.batch_size)
        device = self.context.placement.device
        return SynthBatch(attention_mask=mask.to(device), input_ids=ids.to(device))
