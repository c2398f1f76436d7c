"""The frozen teacher, and where pseudo embeddings enter it (the AS-DFD "plug").

A pseudo sample replaces only the word-embedding lookup (`inputs_embeds=E`); each model's own
position/segment embeddings and embedding LayerNorm still apply, so the plug fits any BERT-like
classifier with no change to the model. Where the word embeddings, the layer list, and each layer's
feed-forward block and attention projections live is the family's `asdfd.core.architectures.Architecture`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asdfd.compressor.head_losses import TaskHead, task_head
from asdfd.core import model_folder
from asdfd.core.architectures import Architecture, architecture_of
from asdfd.core.errors import ModelLoadError
from asdfd.core.heads import head_of
from asdfd.core.model_folder import (
    LOCAL_ONLY,
    load_sequence_classifier,
    read_classifier_config,
    require_tokenizer,
)
from asdfd.core.special_tokens import SpecialTokens

__all__ = ["Teacher", "load_teacher", "segment_ids"]

logger = logging.getLogger(__name__)


@dataclass
class Teacher:
    """A frozen fine-tuned classifier with what the distiller needs to know about it."""

    model: nn.Module
    tokenizer: Any
    arch: Architecture
    """Where the family keeps its word embeddings, layers, FFN and attention projections."""
    model_type: str
    folder: Path
    special: SpecialTokens
    """How synthetic inputs are framed (`special.pairs`: as sentence pairs)."""

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    @functools.cached_property
    def head(self) -> TaskHead:
        """What the outputs are (softmax classes, sigmoid labels or one score) and how they are distilled."""
        return task_head(head_of(self.model.config))

    @property
    def num_layers(self) -> int:
        return self.arch.num_layers(self.model.config)

    @property
    def word_embeddings(self) -> torch.Tensor:
        """The frozen word-embedding matrix, shape (vocab_size, hidden)."""
        return self.arch.word_embeddings(self.model).weight

    @property
    def pairs(self) -> bool:
        """Whether the teacher classifies sentence pairs."""
        return self.special.pairs

    @functools.cached_property
    def uses_segments(self) -> bool:
        """Pairs whose second text has its own segment embedding (BERT, ELECTRA; not RoBERTa). Read once: every
        training step asks (`embed_ids`)."""
        return self.pairs and self.arch.uses_token_type_ids(self.model.config.to_dict())

    def embed_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, d) float embeddings the models read through `inputs_embeds`.

        For pairs with segment embeddings, the second text's segment offset (type 1 - type 0) is added here, which
        is exactly what the model adds itself for `token_type_ids` = 1 (it adds type 0 everywhere to inputs_embeds):
        every synthesizer and held-out set stays in embedding space, and the student (whose segment embeddings are
        frozen for pairs) reads the same sum.
        """
        embeds = self.word_embeddings[input_ids].float()
        if not self.uses_segments:
            return embeds
        types = self.arch.encoder(self.model).embeddings.token_type_embeddings.weight
        segments = segment_ids(input_ids, self.special.sep)
        return embeds + segments.unsqueeze(-1).to(embeds.dtype) * (types[1] - types[0]).float()


def segment_ids(input_ids: torch.Tensor, sep: int) -> torch.Tensor:
    """1 after the first separator (the second text of a pair), else 0 (`SpecialTokens.segment_ids` on tensors;
    padding after the last separator is masked anyway)."""
    is_sep = (input_ids == sep).long()
    return ((is_sep.cumsum(dim=1) - is_sep) >= 1).long()


def load_teacher(folder: str | Path, device: torch.device | str = "cpu", input_kind: str = "auto") -> Teacher:
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
    model.eval().requires_grad_(False).to(device)
    special = SpecialTokens.from_tokenizer(
        tokenizer, model.config.vocab_size, source=f"the tokenizer in {folder}", require_mask=True
    )
    arch = architecture_of(config, str(folder / "config.json"))
    if model_folder.input_kind(config, input_kind) == "pair":
        special = special.for_pairs(arch.pair_separators)
    logger.info(
        "teacher %s: %s, %d layers, %d labels (%s)%s",
        folder,
        model_type,
        arch.num_layers(config),
        model.config.num_labels,
        head_of(config),
        ", sentence pairs" if special.pairs else "",
    )
    return Teacher(model=model, tokenizer=tokenizer, arch=arch, model_type=model_type, folder=folder, special=special)
