"""Half random tokens, half whole words in every batch: the token statistics of the vocabulary and the word
structure of text at each step (the default method)."""

from __future__ import annotations

from dataclasses import dataclass

from asdfd.compressor.deferred import deferred
from asdfd.compressor.synthesis.base import SynthBatch
from asdfd.compressor.synthesis.registry import register
from asdfd.compressor.synthesis.words import WordsConfig, WordTokens

torch = deferred("torch")
F = deferred("torch.nn.functional")
tokens = deferred("asdfd.compressor.synthesis.tokens")

__all__ = ["MixConfig", "MixedTokens"]


@register("mix")
@dataclass(frozen=True, kw_only=True)
class MixConfig(WordsConfig):
    """Half random tokens (by `vocab_prior`), half whole words; `word_pieces` applies to the words."""


@MixConfig.synthesizer
class MixedTokens(WordTokens):
    """The first half of each batch whole words, the second half random tokens."""

    def next_batch(self, step: int) -> SynthBatch:
        context, config = self.context, self.context.config
        words = config.batch_size // 2
        word_ids, word_mask = self.sample(words)
        token_ids, token_mask = tokens.random_token_batch(
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
        device = context.placement.device
        return SynthBatch(attention_mask=mask.to(device), input_ids=ids.to(device))
