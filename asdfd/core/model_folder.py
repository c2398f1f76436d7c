"""Which model folders the product accepts, checked from config.json alone (no torch import).

The AS-DFD "plug" replaces the word-embedding lookup, so any encoder whose Hugging Face model accepts
`inputs_embeds` and has a sequence-classification head fits; the families supported are those of
`asdfd.core.architectures` (each one tested end to end).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from asdfd.core.architectures import SUPPORTED_MODEL_TYPES, architecture_of
from asdfd.core.errors import ConfigError, ModelLoadError, NonFiniteError
from asdfd.core.heads import head_of

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "INPUT_KEY",
    "input_kind",
    "LOCAL_ONLY",
    "read_classifier_config",
    "refuse_remote_code",
    "load_sequence_classifier",
    "refuse_escaping_links",
    "check_finite_weights",
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
    if recorded is not None:
        raise ModelLoadError(f'config.json has {INPUT_KEY}={recorded!r}: it must be "single" or "pair"')
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
            raise ModelLoadError(f"cannot load the model in {model_dir}: {err}") from None
        if isinstance(data, dict) and data.get("auto_map"):
            raise ModelLoadError(
                f"{path} asks to run custom code (auto_map: {sorted(data['auto_map'])}), which asdfd never does: "
                "remove the auto_map entry and use a built-in transformers class"
            )


def refuse_escaping_links(model_dir: str | Path) -> None:
    """Refuse a folder with a link that leaves it (a `vocab.txt` pointing at /etc/passwd would be read and copied into
    every output). A Hugging Face cache snapshot (`models--org--name/snapshots/<rev>/`) may link into its own
    repository folder (its blobs/), and nowhere else.

    Raises:
        ModelLoadError: naming the link and where it points.
    """
    model_dir = Path(model_dir).resolve()
    allowed = model_dir.parents[1] if model_dir.parent.name == "snapshots" else model_dir
    for entry in Path(model_dir).rglob("*"):
        if entry.is_symlink():
            target = entry.resolve()
            if target != allowed and allowed not in target.parents:
                raise ModelLoadError(
                    f"{entry} is a link to {target}, outside the model folder: copy the file into the folder instead"
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
    refuse_escaping_links(model_dir)
    architecture_of(config, str(config_path))  # one line naming the supported families otherwise
    head_of(config)  # a regression problem_type with several outputs is refused in one line
    names = [str(name) for name in (config.get("id2label") or {}).values()]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ModelLoadError(f"{config_path}: id2label names {repeated} more than once: label names must be unique")
    architectures = config.get("architectures") or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise ModelLoadError(
            f"{model_dir} is not a sequence classifier (architectures={architectures}): "
            "fine-tune it with a classification head first (see `compress teacher`)"
        )
    if not any((model_dir / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        raise ModelLoadError(f"{model_dir} has no model.safetensors or pytorch_model.bin")
    check_sizes_against_weights(model_dir, config)
    return config


_LAYER_INDEX = re.compile(r"\.(?:layer|layers)\.(\d+)\.")


def check_sizes_against_weights(model_dir: Path, config: dict[str, Any]) -> None:
    """Compare config.json's sizes with model.safetensors' header before anything is built, so a config that lies
    (a million layers, a huge hidden size) is one line instead of minutes of allocation. Reads tensor names and
    shapes only; a folder with pytorch_model.bin only is checked when it loads.

    Raises:
        ModelLoadError: the layer count or the word-embedding table's shape differs from the weights.
    """
    path = model_dir / "model.safetensors"
    if not path.is_file():
        return
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as weights:
            shapes = {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}  # noqa: SIM118
    except Exception as err:  # noqa: BLE001 - a truncated or foreign file: safetensors raises several kinds
        raise ModelLoadError(
            f"cannot load the model in {model_dir}: {str(err).strip().splitlines()[0] if str(err).strip() else err}"
        ) from None
    architecture = architecture_of(config)
    layers = {int(match.group(1)) for name in shapes if (match := _LAYER_INDEX.search(name))}
    expected = architecture.num_layers(config)
    if layers and expected != max(layers) + 1:
        raise ModelLoadError(
            f"{model_dir}/config.json says {architecture.num_layers_key}={expected} but the weights hold "
            f"{max(layers) + 1} layers: config.json and the weights disagree; save the model again with save_pretrained"
        )
    table = next(
        (
            shape
            for name, shape in shapes.items()
            if name.endswith(".".join(architecture.word_embeddings_path) + ".weight")
        ),
        None,
    )
    vocab = config.get("vocab_size")
    if table and isinstance(vocab, int) and table[0] != vocab:
        raise ModelLoadError(
            f"{model_dir}/config.json says vocab_size={vocab} but the word-embedding table has {table[0]} rows: "
            "config.json and the weights disagree; save the model again with save_pretrained"
        )
    width = config.get("embedding_size") or config.get("hidden_size") or config.get("dim")
    if table and isinstance(width, int) and len(table) == 2 and table[1] != width:
        raise ModelLoadError(
            f"{model_dir}/config.json gives embeddings of width {width} but the weights' are {table[1]} wide: "
            "config.json and the weights disagree; save the model again with save_pretrained"
        )


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
    missing = sorted(info.get("missing_keys", []))
    missing_head = [k for k in missing if k.startswith(_HEAD_PREFIXES)]
    if missing_head:
        raise ModelLoadError(
            f"{model_dir} has no trained classification head (missing {', '.join(missing_head)}): "
            "it is a base encoder; fine-tune it first (see `compress teacher`)"
        )
    if missing:  # transformers fills them at random and only warns: config.json promises weights the file lacks
        raise ModelLoadError(
            f"{model_dir}: config.json describes {len(missing)} weights the weights file lacks ({_first(missing)}): "
            "config.json and the weights disagree (e.g. num_hidden_layers); save the model again with save_pretrained"
        )
    check_finite_weights(model, model_dir)
    return model.eval()


def _first(names: list[str], count: int = 3) -> str:
    return ", ".join(names[:count]) + (f", ... {len(names) - count} more" if len(names) > count else "")


def check_finite_weights(model: Any, where: str | Path) -> None:
    """Refuse a model with NaN/inf weights: it would output NaN for every input.

    Raises:
        NonFiniteError: naming the tensors (the model is broken, whatever options are given).
    """
    import torch

    broken = [name for name, tensor in model.state_dict().items() if not bool(torch.isfinite(tensor).all())]
    if broken:
        raise NonFiniteError(
            f"{where}: the model is broken: {len(broken)} weight tensors hold NaN/inf ({_first(broken)}); "
            "re-train or re-save it from a finite checkpoint"
        )


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
    rows = _read_json_object(model_dir / "config.json").get("vocab_size")
    highest = _highest_token_id(model_dir)
    if isinstance(rows, int) and highest is not None and highest >= rows:
        raise ModelLoadError(
            f"{model_dir}: the tokenizer has token ids up to {highest} but the model's embedding table has {rows} "
            "rows: it is not this model's tokenizer; copy the one the model was trained with"
        )


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _highest_token_id(model_dir: Path) -> int | None:
    """The largest id the folder's tokenizer can emit (tokenizer.json, else vocab.txt), None when unknown."""
    tokenizer = _read_json_object(model_dir / "tokenizer.json")
    if tokenizer:
        vocab = (tokenizer.get("model") or {}).get("vocab")
        ids = (
            list(vocab.values())
            if isinstance(vocab, dict)
            else list(range(len(vocab)))
            if isinstance(vocab, list)
            else []
        )
        ids += [t.get("id") for t in tokenizer.get("added_tokens") or [] if isinstance(t, dict)]
        ids = [i for i in ids if isinstance(i, int)]
        return max(ids) if ids else None
    vocab_txt = model_dir / "vocab.txt"
    if vocab_txt.is_file():
        with vocab_txt.open(encoding="utf-8", errors="replace") as lines:
            return sum(1 for _ in lines) - 1
    return None
