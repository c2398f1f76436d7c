"""Random token ids (the naive data-free input), drawn uniformly or by the Zipf prior over vocabulary rank."""

from __future__ import annotations

from asdfd.compressor.synthesis.base import SynthBatch, Synthesizer
from asdfd.compressor.synthesis.tokens import random_token_batch

__all__ = ["RandomTokens"]


class RandomTokens(Synthesizer):
    """`[CLS] t_1 .. t_n [SEP]` with t_i drawn from the candidate tokens by `config.vocab_prior`, n uniform in
    [min_length - 2, max_length - 2]."""

    name = "random-tokens"

    def next_batch(self, step: int) -> SynthBatch:
        context, config = self.context, self.context.config
        ids, mask = random_token_batch(
            context.candidates,
            config.batch_size,
            config.min_length,
            config.max_length,
            context.teacher.special,
            context.generator,
            context.token_weights,
        )
        device = context.runtime.device
        return SynthBatch(attention_mask=mask.to(device), input_ids=ids.to(device))
