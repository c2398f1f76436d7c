"""The model being exported, loaded once: config, PyTorch model, fast tokenizer, special tokens, task shape."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from asdfd.core.architectures import architecture_of
from asdfd.core.data import read_labelled_file
from asdfd.core.errors import ModelLoadError
from asdfd.core.model_folder import LOCAL_ONLY, input_kind, max_positions, read_classifier_config, require_tokenizer
from asdfd.core.special_tokens import SpecialTokens
from asdfd.export.export_config import ExportConfig, ValidationConfig
from asdfd.export.onnx import load_torch_classifier
from asdfd.export.package import hash_model_folder

__all__ = ["SourceModel", "load_source", "describe_source"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceModel:
    """A Hugging Face sequence classifier folder, loaded for export."""

    model_dir: Path
    hf_config: dict[str, Any]
    """config.json as a dict."""
    model: Any
    """The eval-mode PyTorch model (eager attention)."""
    tokenizer: Any
    """Its fast transformers tokenizer."""
    space: SpecialTokens
    """Special tokens framing generated inputs (pair separators for a pair model)."""
    max_length: int
    """Tokens per text at run time: the config's, capped at the model's positions."""
    num_layers: int
    input_kind: str
    """"single" or "pair"."""
    real_texts: tuple[str, ...]
    """Texts of `ValidationConfig.eval_file` validation compares on (empty without one)."""

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): v for k, v in self.model.config.id2label.items()}


def _load_tokenizer(model_dir: Path) -> Any:
    require_tokenizer(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True, **LOCAL_ONLY)
    except (OSError, ValueError, TypeError) as err:
        raise ModelLoadError(f"{model_dir} has no usable tokenizer: {str(err).splitlines()[0]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{model_dir} has only a slow tokenizer; the artifact needs a fast one (tokenizer.json)")
    return tokenizer


def _validation_texts(validation: ValidationConfig) -> tuple[str, ...]:
    """The eval file's texts that validation compares on (none when no file is given)."""
    if validation.eval_file is None:
        return ()
    data = read_labelled_file(
        validation.eval_file, text_column=validation.text_column, label_column=None, require_labels=False
    )
    return tuple(data.texts[: validation.max_eval_texts])


def _capped_max_length(hf_config: dict[str, Any], requested: int) -> int:
    limit = max_positions(hf_config)
    if limit < requested:
        logger.warning("--max-length %d exceeds the model's %d positions: using %d", requested, limit, limit)
    return min(requested, limit)


def load_source(model_dir: Path, config: ExportConfig) -> SourceModel:
    """Read and load everything the export needs from `model_dir` (one-line errors for a bad folder or file)."""
    hf_config = read_classifier_config(model_dir)
    max_length = _capped_max_length(hf_config, config.max_length)
    real_texts = _validation_texts(config.validation)
    tokenizer = _load_tokenizer(model_dir)
    model = load_torch_classifier(model_dir)
    space = SpecialTokens.from_tokenizer(tokenizer, model.config.vocab_size, source=str(model_dir))
    arch = architecture_of(hf_config)
    kind = input_kind(hf_config, config.input_kind)
    if kind == "pair":  # validation and calibration inputs are pairs, with their segment ids
        space = space.for_pairs(arch.pair_separators)
    return SourceModel(
        model_dir=model_dir,
        hf_config=hf_config,
        model=model,
        tokenizer=tokenizer,
        space=space,
        max_length=max_length,
        num_layers=arch.num_layers(hf_config),
        input_kind=kind,
        real_texts=real_texts,
    )


def describe_source(source: SourceModel) -> dict[str, Any]:
    """The source's fingerprint for provenance: path, sha256 of its files, family and depth."""
    return {
        "path": str(source.model_dir.resolve()),
        "sha256": hash_model_folder(source.model_dir),
        "model_type": source.hf_config.get("model_type"),
        "num_layers": source.num_layers,
    }
