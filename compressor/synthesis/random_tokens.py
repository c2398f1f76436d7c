"""Random token ids (the naive data-free input), drawn uniformly or by the Zipf prior over vocabulary rank."""

from __future__ import annotations

from dataclasses import dataclass

from asdfd.compressor.deferred import deferred
from asdfd.compressor.synthesis.base import SynthBatch, Synthesizer
from asdfd.compressor.synthesis.registry import SynthesisConfig, register

tokens = deferred("asdfd.compressor.synthesis.tokens")

__all__ = ["RandomTokensConfig", "RandomTokens"]


@register("random-tokens")
@dataclass(frozen=True, kw_only=True)
class RandomTokensConfig(SynthesisConfig):
    """Random token ids: no options of its own (`vocab_prior` and `vocab_filter` choose the tokens)."""


@RandomTokensConfig.synthesizer
class RandomTokens(Synthesizer):
    """`[CLS] t_1 .. t_n [SEP]` with t_i drawn from the candidate tokens by `config.vocab_prior`, n uniform in
    [min_length - 2, max_length - 2]."""

    def next_batch(self, step: int) -> SynthBatch:
        context, config = self.context, self.context.config
        ids, mask = tokens.random_token_batch(
            context.candidates,
            config.batch_size,
            config.min_length,
            config.max_length,
            context.teacher.special,
            context.generator,
            context.token_weights,
        )
        device = context.placement.device
        return SynthBatch(attention_mask=mask.to(device), input_ids=ids.to(device))
