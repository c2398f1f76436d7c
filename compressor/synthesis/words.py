"""Whole vocabulary words drawn by a Zipf prior: random *words*, not word pieces (Krishna et al., ICLR 2020,
"Thieves on Sesame Street", distilled an SST-2 BERT on random words and kept most of its accuracy).

A sample is `[CLS] w_1 .. w_n [SEP]`: each w_i a word-start token (no "##" continuation piece first),
drawn with p ∝ 1/rank among the words, and with probability `synthesis.word_pieces` followed by a
continuation piece (so the student also sees split words, as in real text).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from asdfd.compressor.synthesis.base import SynthBatch, SynthContext, Synthesizer
from asdfd.compressor.synthesis.tokens import (
    candidate_token_ids,
    layout_ids,
    random_token_batch,
    sample_lengths,
    vocabulary_rank_weights,
)

__all__ = ["WordTokens", "MixedTokens", "word_candidates"]


def word_candidates(context: SynthContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(word ids, their Zipf weights, continuation-piece ids, their Zipf weights); continuations may be empty."""
    teacher = context.teacher
    vocab_size = context.vocabulary.shape[0]
    words = candidate_token_ids(teacher.tokenizer, vocab_size, teacher.special, "words")
    vocab = teacher.tokenizer.get_vocab()
    allowed = set(context.candidates.tolist())
    pieces = sorted(i for token, i in vocab.items() if token.startswith("##") and token[2:].isalpha() and i in allowed)
    pieces_tensor = torch.tensor(pieces, dtype=torch.long)
    piece_weights = vocabulary_rank_weights(teacher.tokenizer, pieces_tensor) if pieces else torch.zeros(0)
    return words, vocabulary_rank_weights(teacher.tokenizer, words), pieces_tensor, piece_weights


class WordTokens(Synthesizer):
    """Random whole words by the Zipf prior over vocabulary rank, lengths uniform in [min_length, max_length]."""

    name = "words"

    def __init__(self, context: SynthContext) -> None:
        super().__init__(context)
        self.words, self.word_weights, self.pieces, self.piece_weights = word_candidates(context)

    def sample(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask) of `count` word sequences, on CPU."""
        context, config = self.context, self.context.config
        generator = context.generator
        lengths = sample_lengths(count, config.min_length, config.max_length, generator)
        width = config.max_length
        picks = torch.multinomial(self.word_weights, count * width, replacement=True, generator=generator)
        body = self.words[picks].view(count, width)
        share = config.synthesis.word_pieces
        if share > 0 and len(self.pieces):
            split = torch.rand(count, width, generator=generator) < share
            split[:, 0] = False  # a sample never starts mid-word
            pieces = torch.multinomial(self.piece_weights, count * width, replacement=True, generator=generator)
            body = torch.where(split, self.pieces[pieces].view(count, width), body)
        return layout_ids(body, lengths, context.teacher.special)

    def next_batch(self, step: int) -> SynthBatch:
        ids, mask = self.sample(self.context.config.batch_size)
        device = self.context.runtime.device
        return SynthBatch(attention_mask=mask.to(device), input_ids=ids.to(device))


class MixedTokens(WordTokens):
    """Half the batch random tokens (by `vocab_prior`), half whole words: the token statistics of the vocabulary
    and the word structure of text in every step."""

    name = "mix"

    def next_batch(self, step: int) -> SynthBatch:
        context, config = self.context, self.context.config
        words = config.batch_size // 2
        word_ids, word_mask = self.sample(words)
        token_ids, token_mask = random_token_batch(
            context.candidates,
            config.batch_size - words,
            config.min_length,
            config.max_length,
            context.teacher.special,
            context.generator,
            context.token_weights,
        )
        width = max(word_ids.shape[1], token_ids.shape[1])
        pad = context.teacher.special.pad
        ids = torch.cat(
            [
                F.pad(word_ids, (0, width - word_ids.shape[1]), value=pad),
                F.pad(token_ids, (0, width - token_ids.shape[1]), value=pad),
            ]
        )
        mask = torch.cat(
            [F.pad(word_mask, (0, width - word_mask.shape[1])), F.pad(token_mask, (0, width - token_mask.shape[1]))]
        )
        device = context.runtime.device
        return SynthBatch(attention_mask=mask.to(device), input_ids=ids.to(device))
