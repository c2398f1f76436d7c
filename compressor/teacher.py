"""The frozen teacher and the AS-DFD "plug": where pseudo embeddings enter each architecture.

A pseudo sample replaces only the word-embedding lookup (`inputs_embeds=E`); each model's own
position/segment embeddings and embedding LayerNorm still apply, so the plug fits any BERT-like
classifier with no change to the model. Per-architecture knowledge is one small declarative `Plug`
(optimum's per-architecture config style): where the word embeddings, the layer list, and each
layer's feed-forward block and attention projections live.
DistilBERT has no token types or pooler; RoBERTa offsets positions by `padding_idx`: both are handled
inside Hugging Face's own embedding modules, so nothing here depends on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asdfd.errors import ModelLoadError
from asdfd.models import (
    LOCAL_ONLY,
    SUPPORTED_MODEL_TYPES,
    load_sequence_classifier,
    read_classifier_config,
    require_tokenizer,
)
from asdfd.tokens import SpecialTokens

__all__ = ["Plug", "PLUGS", "Teacher", "load_teacher"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plug:
    """Where the pieces of one architecture family live in its `...ForSequenceClassification` model."""

    base_attr: str
    """Attribute holding the encoder (model.bert, model.distilbert, model.roberta)."""
    layers_path: tuple[str, ...]
    """Path from the encoder to its `nn.ModuleList` of transformer layers."""
    num_layers_key: str
    """Config field holding the depth."""
    ffn_in: str
    """Path inside one layer to the FFN's first linear map (hidden -> neurons)."""
    ffn_out: str
    """Path inside one layer to the FFN's second linear map (neurons -> hidden)."""
    ffn_size_key: str
    """Config field holding the FFN width."""
    attention_value: str
    """Path inside one layer to the self-attention's value projection (hidden -> heads x head size)."""
    attention_output: str
    """Path inside one layer to the projection after attention (heads x head size -> hidden)."""
    num_heads_key: str
    """Config field holding the attention heads per layer."""

    def base(self, model: nn.Module) -> nn.Module:
        return getattr(model, self.base_attr)

    def word_embeddings(self, model: nn.Module) -> nn.Embedding:
        return self.base(model).embeddings.word_embeddings

    def layers(self, model: nn.Module) -> nn.ModuleList:
        module = self.base(model)
        for name in self.layers_path:
            module = getattr(module, name)
        return module

    def set_layers(self, model: nn.Module, layers: list[nn.Module]) -> None:
        """Replace the layer list and the depth in the config (the student is a shallower copy)."""
        module = self.base(model)
        for name in self.layers_path[:-1]:
            module = getattr(module, name)
        setattr(module, self.layers_path[-1], nn.ModuleList(layers))
        setattr(model.config, self.num_layers_key, len(layers))

    def num_layers(self, model: nn.Module) -> int:
        return int(getattr(model.config, self.num_layers_key))

    def ffn(self, layer: nn.Module) -> tuple[nn.Linear, nn.Linear]:
        """The two linear maps of one layer's feed-forward block."""
        return layer.get_submodule(self.ffn_in), layer.get_submodule(self.ffn_out)

    def set_ffn(self, layer: nn.Module, ffn_in: nn.Linear, ffn_out: nn.Linear) -> None:
        layer.set_submodule(self.ffn_in, ffn_in)
        layer.set_submodule(self.ffn_out, ffn_out)

    def attention_projections(self, layer: nn.Module) -> tuple[nn.Linear, nn.Linear]:
        """(value, output) linear maps of one layer's self-attention: what each head reads out and writes back."""
        return layer.get_submodule(self.attention_value), layer.get_submodule(self.attention_output)


_BERT_LIKE = dict(
    layers_path=("encoder", "layer"),
    num_layers_key="num_hidden_layers",
    ffn_in="intermediate.dense",
    ffn_out="output.dense",
    ffn_size_key="intermediate_size",
    attention_value="attention.self.value",
    attention_output="attention.output.dense",
    num_heads_key="num_attention_heads",
)
PLUGS: dict[str, Plug] = {
    "bert": Plug(base_attr="bert", **_BERT_LIKE),
    "distilbert": Plug(
        base_attr="distilbert",
        layers_path=("transformer", "layer"),
        num_layers_key="n_layers",
        ffn_in="ffn.lin1",
        ffn_out="ffn.lin2",
        ffn_size_key="hidden_dim",
        attention_value="attention.v_lin",
        attention_output="attention.out_lin",
        num_heads_key="n_heads",
    ),
    "roberta": Plug(base_attr="roberta", **_BERT_LIKE),
}
assert set(PLUGS) == set(SUPPORTED_MODEL_TYPES), "every supported model type needs a plug"


@dataclass
class Teacher:
    """A frozen fine-tuned classifier with what the distiller needs to know about it."""

    model: nn.Module
    tokenizer: Any
    plug: Plug
    model_type: str
    folder: Path
    special: SpecialTokens

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    @property
    def num_layers(self) -> int:
        return self.plug.num_layers(self.model)

    @property
    def word_embeddings(self) -> torch.Tensor:
        """The frozen word-embedding matrix, shape (vocab_size, hidden)."""
        return self.plug.word_embeddings(self.model).weight


def load_teacher(folder: str | Path, device: torch.device | str = "cpu") -> Teacher:
    """Load a Hugging Face sequence-classifier folder as a frozen teacher (never `trust_remote_code`).

    Example:
        >>> teacher = load_teacher("artifacts/teacher-sst2")
        >>> teacher.word_embeddings.shape
        torch.Size([30522, 384])

    Raises:
        ModelLoadError: missing/unreadable folder, not a sequence classifier, unsupported architecture,
            weights or tokenizer that do not load.
    """
    from transformers import AutoTokenizer

    folder = Path(folder)
    config = read_classifier_config(folder)
    model_type = config["model_type"]
    require_tokenizer(folder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **LOCAL_ONLY)
    except Exception as err:  # transformers raises many kinds; the user needs one line
        raise ModelLoadError(
            f"cannot load the tokenizer in {folder} ({type(err).__name__}): the distilled student "
            "needs the teacher's tokenizer files"
        ) from None
    model = load_sequence_classifier(folder)
    if int(model.config.num_labels) < 2:
        raise ModelLoadError(
            f"{folder} has {model.config.num_labels} label(s): a classifier with >= 2 labels is needed"
        )
    model.eval().requires_grad_(False).to(device)
    special = SpecialTokens.from_tokenizer(
        tokenizer, model.config.vocab_size, source=f"the tokenizer in {folder}", require_mask=True
    )
    plug = PLUGS[model_type]
    logger.info(
        "teacher %s: %s, %d layers, %d labels", folder, model_type, plug.num_layers(model), model.config.num_labels
    )
    return Teacher(model=model, tokenizer=tokenizer, plug=plug, model_type=model_type, folder=folder, special=special)
