"""Keys of the metadata that `compress export` writes into the .onnx file and the runtime reads.

The exporter (asdfd.export) and the runtime (asdfd.runtime) share this contract; it is torch-free.
All values are strings (ONNX `metadata_props`); JSON where structured.
"""

from __future__ import annotations

__all__ = [
    "ID2LABEL",
    "TOKENIZER_JSON",
    "MAX_LENGTH",
    "INPUT_NAMES",
    "PROVENANCE",
    "FORMAT_VERSION",
    "FORMAT",
    "VARIANT",
    "MAX_POSITIONS",
    "INPUT_KIND",
    "INPUT_KINDS",
    "HEAD",
]

FORMAT = "asdfd.format"
"""Artifact format version, e.g. "1"."""
FORMAT_VERSION = "1"
ID2LABEL = "asdfd.id2label"
"""JSON object {"0": "negative", ...}: class index -> label name."""
TOKENIZER_JSON = "asdfd.tokenizer_json"
"""The full `tokenizers` tokenizer.json content, loaded with `Tokenizer.from_str`."""
MAX_LENGTH = "asdfd.max_length"
"""Decimal integer: texts are truncated to this many tokens."""
INPUT_NAMES = "asdfd.input_names"
"""JSON list of the graph inputs in order, e.g. ["input_ids", "attention_mask", "token_type_ids"]."""
PROVENANCE = "asdfd.provenance"
"""JSON object: source folder hash, package versions, export options, exporter, fusions, validation figures."""
VARIANT = "asdfd.variant"
"""What the graph holds: "fp32", "fp16" (meant for the CUDA provider) or the int8 preset name, e.g.
"dynamic-s8-per-channel-reduce-range". Optional for readers (added after format 1 was fixed)."""
MAX_POSITIONS = "asdfd.max_positions"
"""Decimal integer: the longest input the graph's position embeddings cover (the runtime refuses a
`MAX_LENGTH` beyond it). Optional for readers (added after format 1 was fixed)."""
INPUT_KIND = "asdfd.input"
"""What one input is: "single" (one text) or "pair" (text_a, text_b: NLI, paraphrase, rerankers). Optional for
readers (added after format 1 was fixed; absent means "single")."""
INPUT_KINDS = ("single", "pair")
HEAD = "asdfd.head"
"""What the outputs are: "single_label" (softmax classes), "multi_label" (a sigmoid per label) or "score" (one
number; asdfd.core.heads). Optional for readers (added after format 1 was fixed; absent means "single_label")."""
