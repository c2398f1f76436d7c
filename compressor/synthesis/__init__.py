"""Data-free input synthesis: the `Synthesizer` interface and the methods, chosen by name (`--method`).

Each method is one file: its config dataclass and its synthesizer, registered together (`registry.register`).

| name | inputs |
| --- | --- |
| random-tokens | random token ids, uniform or by the Zipf prior over vocabulary rank |
| words | whole vocabulary words by the Zipf prior (some followed by a "##" piece) |
| mix | half random tokens, half whole words, in every batch |
| guided | words, over-generated and selected by the teacher: class coverage + uncertain inputs |
| hotflip | guided, plus gradient-guided token swaps towards the student's disagreement |
| forms | words, short texts, questions (pairs: edits, negations, short hypotheses, ...) in shares the teacher sets |
| asdfd | AS-DFD: guessed pseudo embeddings, hardened adversarially (asdfd.compressor.asdfd_method) |

Importing this package registers the built-in methods; it does not import torch.
"""

from __future__ import annotations

import importlib

from asdfd.compressor.synthesis.base import SynthBatch, SynthContext, Synthesizer
from asdfd.compressor.synthesis.registry import (
    SynthesisConfig,
    make_synthesizer,
    method_config,
    methods,
    register,
)

__all__ = [
    "SynthBatch",
    "SynthContext",
    "Synthesizer",
    "SynthesisConfig",
    "register",
    "methods",
    "method_config",
    "make_synthesizer",
]

BUILT_IN = (
    "asdfd.compressor.synthesis.random_tokens",
    "asdfd.compressor.synthesis.words",
    "asdfd.compressor.synthesis.mix",
    "asdfd.compressor.synthesis.guided",
    "asdfd.compressor.synthesis.hotflip",
    "asdfd.compressor.synthesis.forms",
    "asdfd.compressor.asdfd_method.synthesizer",
)
"""The built-in methods' files, in the order `--help` lists them: importing a method's file registers it."""
for _module in BUILT_IN:
    importlib.import_module(_module)
