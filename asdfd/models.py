"""Which model folders the product accepts, checked from config.json alone (no torch import).

The AS-DFD "plug" replaces the word-embedding lookup, so any encoder whose Hugging Face model accepts
`inputs_embeds` and has a sequence-classification head fits. We support the BERT family we test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asdfd.errors import ModelLoadError

__all__ = ["SUPPORTED_MODEL_TYPES", "read_classifier_config"]

SUPPORTED_MODEL_TYPES = ("bert", "distilbert", "roberta")
"""`model_type` values in config.json that distill and export support."""


def read_classifier_config(model_dir: str | Path) -> dict[str, Any]:
    """Return config.json of a Hugging Face sequence-classifier folder, or raise a one-line error.

    Raises:
        ModelLoadError: folder or config.json missing/unreadable, no weights, not a sequence
            classifier, or an unsupported architecture.
    """
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelLoadError(f"model folder {model_dir} does not exist: pass a Hugging Face model folder")
    if not model_dir.is_dir():
        raise ModelLoadError(f"{model_dir} is not a folder: pass a Hugging Face model folder (config.json + weights)")
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{model_dir} has no config.json: is it a Hugging Face model folder?")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"cannot read {config_path}: {err}") from None
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelLoadError(
            f"unsupported architecture {model_type!r} in {config_path}: supported are {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    architectures = config.get("architectures") or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise ModelLoadError(
            f"{model_dir} is not a sequence classifier (architectures={architectures}): "
            "fine-tune it with a classification head first (see `compress teacher`)"
        )
    if not any((model_dir / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        raise ModelLoadError(f"{model_dir} has no model.safetensors or pytorch_model.bin")
    return config
