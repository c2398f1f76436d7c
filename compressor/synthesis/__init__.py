"""Data-free input synthesis: the `Synthesizer` interface and the synthesizers, chosen by name (`--method`).

| name | inputs |
| --- | --- |
| random-tokens | random token ids, uniform or by the Zipf prior over vocabulary rank |
| words | whole vocabulary words by the Zipf prior (some followed by a "##" piece) |
| mix | half random tokens, half whole words, in every batch |
| guided | words, over-generated and selected by the teacher: class coverage + uncertain inputs |
| hotflip | guided, plus gradient-guided token swaps towards the student's disagreement |
| asdfd | AS-DFD: guessed pseudo embeddings, hardened adversarially (asdfd.compressor.asdfd) |
"""

from __future__ import annotations

import importlib

from asdfd.compressor.synthesis.base import SynthBatch, SynthContext, Synthesizer
from asdfd.errors import ConfigError

__all__ = ["SynthBatch", "SynthContext", "Synthesizer", "SYNTHESIZERS", "make_synthesizer"]

SYNTHESIZERS: dict[str, str] = {
    "random-tokens": "asdfd.compressor.synthesis.random_tokens:RandomTokens",
    "words": "asdfd.compressor.synthesis.words:WordTokens",
    "mix": "asdfd.compressor.synthesis.words:MixedTokens",
    "guided": "asdfd.compressor.synthesis.guided:GuidedWords",
    "hotflip": "asdfd.compressor.synthesis.hotflip:HotFlipWords",
    "asdfd": "asdfd.compressor.asdfd.synthesizer:AsdfdSynthesizer",
}
"""Method name -> "module:class" of its synthesizer (imported when chosen)."""


def make_synthesizer(name: str, context: SynthContext) -> Synthesizer:
    """The synthesizer registered under `name`, built on `context`.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    if name not in SYNTHESIZERS:
        raise ConfigError(f"unknown method {name!r}: choose one of {', '.join(SYNTHESIZERS)}")
    module, _, cls = SYNTHESIZERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)(context)
