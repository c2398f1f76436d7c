"""What travels with the graph: metadata inside the .onnx, and the folder layout Optimum loads.

The .onnx carries everything the runtime needs to classify raw text (keys in asdfd.runtime.metadata):
labels, the full tokenizer.json, max length, input names and a provenance record. The folder layout
(`--out DIR/`) adds config.json and the tokenizer files beside `model.onnx`, which is what
`optimum.onnxruntime.ORTModelForSequenceClassification.from_pretrained(DIR)` expects, plus
`export_report.json` (the config and figures, like optimum's ORTConfig saved beside the model).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import onnx
from tokenizers import Tokenizer

from asdfd.runtime import metadata as keys

__all__ = [
    "hash_model_folder",
    "tokenizer_json_text",
    "build_metadata",
    "embed_metadata",
    "write_folder_layout",
]


def hash_model_folder(model_dir: Path) -> str:
    """sha256 over the names and bytes of the folder's top-level files (weights, config, tokenizer)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).iterdir() if p.is_file() and not p.name.startswith(".")):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def tokenizer_json_text(tokenizer: Any, max_length: int) -> str:
    """The fast tokenizer as tokenizer.json text, truncating to `max_length`, without padding."""
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_padding()
    backend.enable_truncation(max_length)
    return backend.to_str()


def build_metadata(
    *,
    id2label: dict[int, str],
    tokenizer_json: str,
    max_length: int,
    input_names: tuple[str, ...],
    variant: str,
    provenance: dict[str, Any],
    max_positions: int | None = None,
    input_kind: str = "single",
    head: str = "single_label",
) -> dict[str, str]:
    """The metadata_props of the artifact (all values strings), keyed by asdfd.runtime.metadata."""
    provenance = {**provenance, "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return {
        keys.FORMAT: keys.FORMAT_VERSION,
        keys.ID2LABEL: json.dumps({str(k): v for k, v in sorted(id2label.items())}),
        keys.TOKENIZER_JSON: tokenizer_json,
        keys.MAX_LENGTH: str(max_length),
        keys.INPUT_NAMES: json.dumps(list(input_names)),
        keys.VARIANT: variant,
        keys.PROVENANCE: json.dumps(provenance, default=str, sort_keys=True),
        **({keys.MAX_POSITIONS: str(max_positions)} if max_positions is not None else {}),
        keys.INPUT_KIND: input_kind,
        keys.HEAD: head,
    }


def embed_metadata(model_path: Path, props: dict[str, str]) -> None:
    """Set `props` as metadata_props of the .onnx file in place (replacing keys already there)."""
    model = onnx.load(str(model_path))
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "asdfd"
    onnx.save(model, str(model_path))


def write_folder_layout(folder: Path, onnx_path: Path, model_dir: Path, tokenizer: Any, report: dict[str, Any]) -> Path:
    """model.onnx + config.json + tokenizer files + export_report.json in `folder`; returns model.onnx."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.onnx"
    shutil.copyfile(onnx_path, target)
    shutil.copyfile(Path(model_dir) / "config.json", folder / "config.json")
    tokenizer.save_pretrained(folder)
    (folder / "export_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return target
