"""Which model folders the product accepts, checked from config.json alone (no torch import).

The AS-DFD "plug" replaces the word-embedding lookup, so any encoder whose Hugging Face model accepts
`inputs_embeds` and has a sequence-classification head fits; the families supported are those of
`asdfd.architectures` (each one tested end to end).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asdfd.architectures import SUPPORTED_MODEL_TYPES, architecture_of
from asdfd.errors import ConfigError, ModelLoadError
from asdfd.heads import head_of

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "INPUT_KEY",
    "input_kind",
    "LOCAL_ONLY",
    "read_classifier_config",
    "refuse_remote_code",
    "load_sequence_classifier",
]

LOCAL_ONLY: dict[str, bool] = {"trust_remote_code": False, "local_files_only": True}
"""Keyword arguments of every `from_pretrained` call: never run code shipped with a model, never reach
the network (the folder is all there is)."""

INPUT_KEY = "asdfd_input"
"""config.json key recording the task shape, "single" or "pair" (written by `compress teacher` and the distiller)."""

_PAIR_LABELS = {
    "entailment",
    "contradiction",
    "not_entailment",
    "paraphrase",
    "not_paraphrase",
    "equivalent",
    "not_equivalent",
    "duplicate",
    "not_duplicate",
}
"""Label names only sentence-pair tasks have (NLI, paraphrase, duplicate questions)."""


def input_kind(config: dict[str, Any], given: str = "auto") -> str:
    """The task shape, "single" or "pair": `given` when not "auto", else config.json's `asdfd_input`, else "pair" when
    the labels are those of a pair task (entailment, paraphrase, duplicate, ...), else "single"."""
    if given in ("single", "pair"):
        return given
    if given != "auto":
        raise ConfigError(f"input kind must be auto, single or pair, got {given!r}")
    recorded = config.get(INPUT_KEY)
    if recorded in ("single", "pair"):
        return recorded
    names = {
        str(name).strip().lower().replace(" ", "_").replace("-", "_")
        for name in (config.get("id2label") or {}).values()
    }
    return "pair" if names & _PAIR_LABELS else "single"


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
    architecture_of(config, str(config_path))  # one line naming the supported families otherwise
    head_of(config)  # a regression problem_type with several outputs is refused in one line
    architectures = config.get("architectures") or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise ModelLoadError(
            f"{model_dir} is not a sequence classifier (architectures={architectures}): "
            "fine-tune it with a classification head first (see `compress teacher`)"
        )
    if not any((model_dir / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        raise ModelLoadError(f"{model_dir} has no model.safetensors or pytorch_model.bin")
    return config


_HEAD_PREFIXES = ("classifier.", "pre_classifier.", "score.", "classifier_head.")
"""Parameter names of a classification head (BERT/RoBERTa: classifier, DistilBERT: pre_classifier + classifier)."""


def load_sequence_classifier(model_dir: str | Path, **kwargs: Any) -> Any:
    """The folder as an eval-mode `AutoModelForSequenceClassification` (fp32, local files, no remote code).

    transformers imports lazily here, so this module stays torch-free to import. A folder whose weights lack the
    classification head would load with a randomly initialised one (transformers only warns): it is refused.

    Args:
        kwargs: extra `from_pretrained` arguments, e.g. attn_implementation="eager".
    Raises:
        ModelLoadError: one line, for weights that do not load (truncated, wrong shapes) or a missing head.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    model_dir = Path(model_dir)
    read_classifier_config(model_dir)
    safetensors = (model_dir / "model.safetensors").is_file()
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            model_dir,
            dtype=torch.float32,
            output_loading_info=True,
            use_safetensors=True if safetensors else None,
            **LOCAL_ONLY,
            **kwargs,
        )
    except Exception as err:  # noqa: BLE001 - transformers/safetensors raise many kinds; the user needs one line
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"cannot load the model in {model_dir}: {first_line}") from None
    missing_head = sorted(k for k in info.get("missing_keys", []) if k.startswith(_HEAD_PREFIXES))
    if missing_head:
        raise ModelLoadError(
            f"{model_dir} has no trained classification head (missing {', '.join(missing_head)}): "
            "it is a base encoder; fine-tune it first (see `compress teacher`)"
        )
    return model.eval()


def max_positions(config: dict[str, Any]) -> int:
    """The longest input (tokens) the model's position embeddings cover, from its config.json."""
    return architecture_of(config).max_positions(config)


_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spm.model")


def require_tokenizer(model_dir: str | Path) -> None:
    """One line when the folder holds no tokenizer files (transformers' own error is a confusing TypeError)."""
    model_dir = Path(model_dir)
    if not any((model_dir / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelLoadError(
            f"{model_dir} has no tokenizer files ({', '.join(_TOKENIZER_FILES[:2])}, ...): copy the "
            "tokenizer it was trained with into the folder (tokenizer.save_pretrained)"
        )
