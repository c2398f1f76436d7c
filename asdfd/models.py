"""Which model folders the product accepts, checked from config.json alone (no torch import).

The AS-DFD "plug" replaces the word-embedding lookup, so any encoder whose Hugging Face model accepts
`inputs_embeds` and has a sequence-classification head fits. We support the BERT family we test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asdfd.errors import ModelLoadError

__all__ = ["SUPPORTED_MODEL_TYPES", "LOCAL_ONLY", "read_classifier_config", "refuse_remote_code"]

SUPPORTED_MODEL_TYPES = ("bert", "distilbert", "roberta")
"""`model_type` values in config.json that distill and export support."""

LOCAL_ONLY: dict[str, bool] = {"trust_remote_code": False, "local_files_only": True}
"""Keyword arguments of every `from_pretrained` call: never run code shipped with a model, never reach
the network (the folder is all there is)."""

_CODE_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json")
"""JSON files of a Hugging Face folder whose `auto_map` makes transformers import code from the folder or
the Hub."""


def refuse_remote_code(model_dir: str | Path) -> None:
    """Refuse a folder that asks transformers to run custom code (an `auto_map` entry, any file).

    `trust_remote_code=False` alone is not enough: with an `auto_map` in tokenizer_config.json,
    transformers prompts "Do you wish to run the custom code? [y/N]" on a terminal, and a "y"
    downloads and runs it. We refuse before any loader is called.

    Raises:
        ModelLoadError: naming the file and what to do.
    """
    model_dir = Path(model_dir)
    for name in _CODE_FILES:
        path = model_dir / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelLoadError(f"cannot read {path}: {err}") from None
        if isinstance(data, dict) and data.get("auto_map"):
            raise ModelLoadError(
                f"{path} asks to run custom code (auto_map: {sorted(data['auto_map'])}), which asdfd never does: "
                "remove the auto_map entry and use a built-in transformers class"
            )


def read_classifier_config(model_dir: str | Path) -> dict[str, Any]:
    """Return config.json of a Hugging Face sequence-classifier folder, or raise a one-line error.

    Raises:
        ModelLoadError: folder or config.json missing/unreadable, no weights, not a sequence
            classifier, an unsupported architecture, or a folder that asks for custom code.
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
    if not isinstance(config, dict):
        raise ModelLoadError(
            f"{config_path} holds a JSON {type(config).__name__}, not an object: is it a Hugging Face config.json?"
        )
    refuse_remote_code(model_dir)
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelLoadError(
            f"unsupported architecture {model_type!r} in {config_path}: "
            f"supported are {', '.join(SUPPORTED_MODEL_TYPES)}"
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
