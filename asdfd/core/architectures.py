"""What the product knows about each encoder family, in one place (optimum's one-config-per-architecture style).

Torch-free: an `Architecture` holds names and paths only, and walks a model with `getattr`, so the runtime, the
export and the benchmark read the same facts the compressor uses without importing torch. Compressor (student
cutting, FFN/head pruning, the word-embedding plug), export (graph inputs, position limits), runtime and bench
(which inputs to feed) all ask `architecture_of(config)`; nothing else in the package names a model type.

A family is listed only when a tiny random model of it goes through distill -> export (validated) -> runtime ->
bench in the tests (tests/test_architectures.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asdfd.core.errors import ModelLoadError

__all__ = ["Architecture", "ARCHITECTURES", "FAMILIES", "SUPPORTED_MODEL_TYPES", "architecture_of"]


@dataclass(frozen=True)
class Architecture:
    """Where the pieces of one family live in its `...ForSequenceClassification` model, and what its inputs are."""

    model_type: str
    """config.json `model_type`."""
    name: str
    """The family as users know it."""
    encoder_attr: str
    """Attribute of the classifier holding the encoder (model.bert, model.roberta, model.electra, ...)."""
    layers_path: tuple[str, ...] = ("encoder", "layer")
    """Path from the encoder to its list of transformer layers."""
    num_layers_key: str = "num_hidden_layers"
    """Config field holding the depth."""
    ffn_in: str = "intermediate.dense"
    """Path inside one layer to the FFN's first linear map (hidden -> neurons)."""
    ffn_out: str = "output.dense"
    """Path inside one layer to the FFN's second linear map (neurons -> hidden)."""
    ffn_size_key: str = "intermediate_size"
    """Config field holding the FFN width."""
    attention_value: str = "attention.self.value"
    """Path inside one layer to the self-attention's value projection (hidden -> heads x head size)."""
    attention_output: str = "attention.output.dense"
    """Path inside one layer to the projection after attention (heads x head size -> hidden)."""
    num_heads_key: str = "num_attention_heads"
    """Config field holding the attention heads per layer."""
    segment_embeddings: bool = True
    """The model takes `token_type_ids` (used when config.json's `type_vocab_size` is at least 2)."""
    position_offset_from_padding: bool = False
    """Positions start after `pad_token_id` (RoBERTa, XLM-R): that many fewer tokens fit."""
    head_pruning: bool = True
    """transformers can prune the family's attention heads (`--student-heads`)."""
    pair_separators: int = 1
    """Separator tokens between the two texts of a pair (BERT `[SEP]`: 1; RoBERTa `</s></s>`: 2)."""
    word_embeddings_path: tuple[str, ...] = ("embeddings", "word_embeddings")
    """Path from the encoder to the word-embedding `nn.Embedding`."""
    ffn_glu: bool = False
    """The FFN's first map is gated (GLU): it outputs the neurons' inputs and then their gates, `2 x` the width."""
    layers_know_their_index: bool = False
    """A layer's behaviour follows its position (ModernBERT: local or global attention, no attention norm in layer
    0), so a cut student is rebuilt from its config with the kept weights loaded into it: the model trained is the
    one that reloads."""
    optimum_export: bool = True
    """optimum-onnx exports the family; otherwise `compress export` uses torch.onnx directly."""

    # ---- config facts (from config.json as a dict) ----
    def uses_token_type_ids(self, config: dict[str, Any]) -> bool:
        """Whether inputs carry segment ids: the family has segment embeddings with two or more types."""
        return self.segment_embeddings and int(config.get("type_vocab_size", 2)) >= 2

    def input_names(self, config: dict[str, Any]) -> tuple[str, ...]:
        """The inputs the model (and its ONNX graph) takes, in order."""
        extra = ("token_type_ids",) if self.uses_token_type_ids(config) else ()
        return ("input_ids", "attention_mask", *extra)

    def max_positions(self, config: dict[str, Any]) -> int:
        """The longest input (tokens) the position embeddings cover."""
        positions = int(config.get("max_position_embeddings", 512))
        if self.position_offset_from_padding:
            positions -= int(config.get("pad_token_id", 1)) + 1
        return positions

    def num_layers(self, config: Any) -> int:
        """Depth, from config.json (dict) or a transformers config object."""
        value = config.get(self.num_layers_key) if isinstance(config, dict) else getattr(config, self.num_layers_key)
        return int(value)

    # ---- module navigation (getattr only: any torch model, no torch import here) ----
    def encoder(self, model: Any) -> Any:
        return getattr(model, self.encoder_attr)

    def word_embeddings(self, model: Any) -> Any:
        """The word-embedding `nn.Embedding` (what pseudo embeddings replace)."""
        module = self.encoder(model)
        for name in self.word_embeddings_path:
            module = getattr(module, name)
        return module

    def layers(self, model: Any) -> Any:
        module = self.encoder(model)
        for name in self.layers_path:
            module = getattr(module, name)
        return module

    def set_layers(self, model: Any, layers: list[Any]) -> None:
        """Replace the layer list (same container type) and the depth in the config (a shallower copy)."""
        module = self.encoder(model)
        for name in self.layers_path[:-1]:
            module = getattr(module, name)
        current = getattr(module, self.layers_path[-1])
        setattr(module, self.layers_path[-1], type(current)(layers))
        setattr(model.config, self.num_layers_key, len(layers))

    def ffn(self, layer: Any) -> tuple[Any, Any]:
        """The two linear maps of one layer's feed-forward block."""
        return layer.get_submodule(self.ffn_in), layer.get_submodule(self.ffn_out)

    def set_ffn(self, layer: Any, ffn_in: Any, ffn_out: Any) -> None:
        layer.set_submodule(self.ffn_in, ffn_in)
        layer.set_submodule(self.ffn_out, ffn_out)

    def attention_projections(self, layer: Any) -> tuple[Any, Any]:
        """(value, output) linear maps of one layer's self-attention: what each head reads out and writes back."""
        return layer.get_submodule(self.attention_value), layer.get_submodule(self.attention_output)


ARCHITECTURES: dict[str, Architecture] = {
    arch.model_type: arch
    for arch in (
        Architecture("bert", "BERT (incl. MiniLM)", "bert"),
        Architecture(
            "distilbert",
            "DistilBERT",
            "distilbert",
            layers_path=("transformer", "layer"),
            num_layers_key="n_layers",
            ffn_in="ffn.lin1",
            ffn_out="ffn.lin2",
            ffn_size_key="hidden_dim",
            attention_value="attention.v_lin",
            attention_output="attention.out_lin",
            num_heads_key="n_heads",
            segment_embeddings=False,
        ),
        Architecture("roberta", "RoBERTa", "roberta", position_offset_from_padding=True, pair_separators=2),
        Architecture("xlm-roberta", "XLM-RoBERTa", "roberta", position_offset_from_padding=True, pair_separators=2),
        Architecture("electra", "ELECTRA", "electra"),
        # v3 checkpoints are model_type deberta-v2 too; relative positions, and segment ids only if type_vocab_size.
        Architecture(
            "deberta-v2", "DeBERTa-v2/v3", "deberta", attention_value="attention.self.value_proj", head_pruning=False
        ),
        # Rotary positions (no position table to offset), a gated FFN, fused QKV (no head pruning), and every
        # `global_attn_every_n_layers`-th layer global, the others sliding-window: by the layer's index.
        Architecture(
            "modernbert",
            "ModernBERT",
            "model",
            layers_path=("layers",),
            ffn_in="mlp.Wi",
            ffn_out="mlp.Wo",
            attention_value="attn.Wqkv",
            attention_output="attn.Wo",
            segment_embeddings=False,
            head_pruning=False,
            word_embeddings_path=("embeddings", "tok_embeddings"),
            ffn_glu=True,
            layers_know_their_index=True,
            optimum_export=False,
        ),
    )
}
"""Every supported family by `model_type`."""

SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(ARCHITECTURES)
FAMILIES = ", ".join(arch.name for arch in ARCHITECTURES.values())
"""The supported families, as help texts and errors name them."""


def architecture_of(config: dict[str, Any] | Any, source: str = "config.json") -> Architecture:
    """The family of a config (config.json as a dict, or a transformers config), or a one-line error naming what
    is supported."""
    model_type = config.get("model_type") if isinstance(config, dict) else getattr(config, "model_type", None)
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        names = ", ".join(f"{arch.name} ({arch.model_type})" for arch in ARCHITECTURES.values())
        raise ModelLoadError(f"unsupported architecture {model_type!r} in {source}: supported are {names}") from None
