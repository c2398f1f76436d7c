"""Locate and validate the artifact `compress export` writes: one .onnx file, or a folder.

Layouts accepted:
- `student.onnx`: self-contained; labels, tokenizer and max length are in its metadata
  (the keys of `asdfd.runtime.metadata`).
- a folder with `model.onnx` (or exactly one `*.onnx`), `config.json` and `tokenizer.json`: every
  metadata key missing from the .onnx falls back to those files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asdfd.core.errors import ModelLoadError
from asdfd.core.heads import HEADS, SINGLE_LABEL, head_of
from asdfd.runtime import metadata

__all__ = ["ArtifactInfo", "locate_onnx", "read_artifact_info", "SUPPORTED_INPUTS"]

logger = logging.getLogger(__name__)

SUPPORTED_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
"""Graph inputs the runtime knows how to feed."""

_DEFAULT_MAX_LENGTH = 512


@dataclass(frozen=True)
class ArtifactInfo:
    """What the runtime needs besides the graph itself."""

    onnx_path: Path
    labels: tuple[str, ...]
    """Label name per class index."""
    tokenizer_json: str
    max_length: int
    """Texts are truncated to this many tokens."""
    provenance: dict[str, Any] = field(default_factory=dict)
    input_kind: str = "single"
    """"single": one text per input; "pair": (text_a, text_b)."""
    head: str = SINGLE_LABEL
    """What the outputs are (asdfd.core.heads): softmax classes, a sigmoid per label, or one score."""

    @property
    def size_mb(self) -> float:
        """Size on disk of the graph, external weight files included."""
        files = [self.onnx_path, *self.onnx_path.parent.glob(f"{self.onnx_path.name}.data")]
        return sum(path.stat().st_size for path in files if path.is_file()) / 1e6


def locate_onnx(path: str | Path) -> Path:
    """Return the .onnx file of an artifact given as a file or a folder.

    Raises:
        ModelLoadError: nothing there, or a folder without exactly one obvious .onnx file.
    """
    if not isinstance(path, (str, Path)) or not str(path):
        raise ModelLoadError(f"expected the path of a .onnx file or export folder, got {path!r}")
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model {path} does not exist: pass the .onnx file or folder `compress export` wrote")
    if path.is_file():
        return path
    if (path / "model.onnx").is_file():
        return path / "model.onnx"
    candidates = sorted(path.glob("*.onnx"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelLoadError(f"folder {path} contains no .onnx file: pass the output of `compress export`")
    names = ", ".join(candidate.name for candidate in candidates)
    raise ModelLoadError(f"folder {path} contains several .onnx files ({names}): pass the one to load")


def _labels_from(raw: str | dict[str, Any], source: str) -> tuple[str, ...]:
    try:
        id2label = json.loads(raw) if isinstance(raw, str) else raw
        by_index = {int(index): str(name) for index, name in id2label.items()}
    except (ValueError, TypeError, AttributeError) as err:
        raise ModelLoadError(f"corrupt label map in {source}: {err}") from None
    if not by_index or sorted(by_index) != list(range(len(by_index))):
        raise ModelLoadError(f"label map in {source} must map 0..N-1 to names, got {sorted(by_index)}")
    names = tuple(by_index[index] for index in range(len(by_index)))
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ModelLoadError(f"label map in {source} names {repeated} more than once: label names must be unique")
    return names


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"cannot read {path}: {err}") from None


def _folder_max_length(folder: Path) -> int | None:
    lengths = []
    tokenizer_config = _read_json(folder / "tokenizer_config.json") or {}
    if isinstance(tokenizer_config.get("model_max_length"), int) and tokenizer_config["model_max_length"] < 1e6:
        lengths.append(tokenizer_config["model_max_length"])  # HF writes 1e30 for "no limit"
    config = _read_json(folder / "config.json") or {}
    if isinstance(config.get("max_position_embeddings"), int):
        lengths.append(config["max_position_embeddings"])
    return min(lengths) if lengths else None


def read_artifact_info(onnx_path: Path, custom_metadata: dict[str, str]) -> ArtifactInfo:
    """Combine the .onnx metadata with the files beside it (folder layout) and validate the result.

    Args:
        onnx_path: the graph file.
        custom_metadata: `InferenceSession.get_modelmeta().custom_metadata_map`.

    Raises:
        ModelLoadError: a newer format, corrupt metadata, or no labels / tokenizer anywhere.
    """
    folder = onnx_path.parent
    version = custom_metadata.get(metadata.FORMAT)
    if version is not None and version != metadata.FORMAT_VERSION:
        raise ModelLoadError(
            f"{onnx_path} has artifact format {version!r}, this runtime reads {metadata.FORMAT_VERSION!r}: "
            "upgrade asdfd or re-export the model"
        )

    if metadata.ID2LABEL in custom_metadata:
        labels = _labels_from(custom_metadata[metadata.ID2LABEL], f"{onnx_path} metadata {metadata.ID2LABEL}")
    elif (config := _read_json(folder / "config.json")) and config.get("id2label"):
        labels = _labels_from(config["id2label"], str(folder / "config.json"))
    else:
        raise ModelLoadError(
            f"{onnx_path} has no label names (metadata {metadata.ID2LABEL!r}, or id2label in a config.json "
            "beside it): export it with `compress export`"
        )

    tokenizer_json = custom_metadata.get(metadata.TOKENIZER_JSON)
    if tokenizer_json is None and (folder / "tokenizer.json").is_file():
        tokenizer_json = (folder / "tokenizer.json").read_text(encoding="utf-8")
    if not tokenizer_json:
        raise ModelLoadError(
            f"{onnx_path} has no tokenizer (metadata {metadata.TOKENIZER_JSON!r}, or a tokenizer.json beside it): "
            "export it with `compress export`"
        )

    if metadata.MAX_LENGTH in custom_metadata:
        try:
            max_length = int(custom_metadata[metadata.MAX_LENGTH])
        except ValueError:
            raise ModelLoadError(
                f"corrupt metadata {metadata.MAX_LENGTH!r} in {onnx_path}: {custom_metadata[metadata.MAX_LENGTH]!r}"
            ) from None
    else:
        max_length = _folder_max_length(folder) or _DEFAULT_MAX_LENGTH
        logger.info("%s: no %s metadata, truncating texts to %d tokens", onnx_path, metadata.MAX_LENGTH, max_length)

    if metadata.MAX_POSITIONS in custom_metadata:
        positions = custom_metadata[metadata.MAX_POSITIONS]
        if not positions.isdigit():
            raise ModelLoadError(f"corrupt metadata {metadata.MAX_POSITIONS!r} in {onnx_path}: {positions!r}")
        if max_length > int(positions):
            raise ModelLoadError(
                f"{onnx_path} truncates texts to {max_length} tokens but its position embeddings cover {positions}: "
                "re-export it with --max-length at most that"
            )

    provenance: dict[str, Any] = {}
    if metadata.PROVENANCE in custom_metadata:
        try:
            provenance = json.loads(custom_metadata[metadata.PROVENANCE])
        except json.JSONDecodeError:
            logger.warning("%s: unreadable %s metadata, ignored", onnx_path, metadata.PROVENANCE)

    def folder_config() -> dict[str, Any]:  # read only when the metadata lacks a key (older artifacts)
        return _read_json(folder / "config.json") or {}

    kind = custom_metadata.get(metadata.INPUT_KIND) or folder_config().get("asdfd_input") or "single"
    if kind not in metadata.INPUT_KINDS:
        raise ModelLoadError(f"corrupt metadata {metadata.INPUT_KIND!r} in {onnx_path}: {kind!r}")
    head = custom_metadata.get(metadata.HEAD) or (head_of(config) if (config := folder_config()) else SINGLE_LABEL)
    if head not in HEADS:
        raise ModelLoadError(f"corrupt metadata {metadata.HEAD!r} in {onnx_path}: {head!r}")
    return ArtifactInfo(
        onnx_path=onnx_path,
        labels=labels,
        tokenizer_json=tokenizer_json,
        max_length=max_length,
        provenance=provenance,
        input_kind=kind,
        head=head,
    )
