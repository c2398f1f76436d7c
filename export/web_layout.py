"""The transformers.js layout of an export folder: one folder for Optimum, the Python runtime and JavaScript.

transformers.js (`@huggingface/transformers`, Node and the browser) loads `<folder>/onnx/model.onnx` for its fp32
dtype, `onnx/model_quantized.onnx` for q8 (ONNX Runtime dynamic int8: what `--quantize int8` exports) and
`onnx/model_fp16.onnx` for fp16, beside `config.json` and `tokenizer.json` at the folder's root. Optimum and
`asdfd.runtime.Classifier` load `<folder>/model.onnx`. `add_web_layout` adds the `onnx/` names to a folder the
exporter is writing, as hard links to graphs that are already there (one copy of the weights; a copy, logged, only
where the filesystem has no hard links), and completes config.json with what transformers.js reads:

- `id2label` / `label2id` (its text-classification pipeline names the classes with them);
- `problem_type`: `multi_label_classification` for multi-label heads (the pipeline then applies a sigmoid per
  label instead of a softmax), `regression` for a score head (one output, no probability: read `logits`);
- `asdfd_input`: "single" or "pair", the task shape the exporter used (JavaScript reads it to frame pairs with the
  tokenizer's `text_pair`);
- `transformers.js_config.dtype`: the variant the export validated as the deployable one (`q8` when there is an
  int8 graph, else `fp32`), so that `pipeline(...)` without a `dtype` loads the graph the Python runtime loads
  (transformers.js defaults to q8 in the browser, which must not point at a file that is absent);

and, given the export's `max_length`, caps `model_max_length` in tokenizer_config.json so transformers.js truncates
long texts where the Python runtime does.

Example (inside the exporter, in the temporary folder before its atomic rename):
    >>> write_folder_layout(tmp, final.path, model_dir, tokenizer, report)
    >>> add_web_layout(tmp, fp32=fp32_graph, int8=tmp / "model.onnx", config=hf_config, max_length=128)
    ['onnx/model.onnx', 'onnx/model_quantized.onnx', 'config.json', 'tokenizer_config.json']
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from asdfd.core.heads import MULTI_LABEL, SCORE, head_of
from asdfd.core.model_folder import INPUT_KEY
from asdfd.core.model_folder import input_kind as resolve_input_kind

__all__ = ["WEB_SUBFOLDER", "WEB_FILE_NAMES", "add_web_layout", "web_config"]

logger = logging.getLogger(__name__)

WEB_SUBFOLDER = "onnx"
"""transformers.js' default `subfolder` for model files."""

WEB_FILE_NAMES = {"fp32": "model.onnx", "int8": "model_quantized.onnx", "fp16": "model_fp16.onnx"}
"""The graph variants the exporter writes -> their file names for transformers.js' dtypes fp32, q8 and fp16."""

_TRANSFORMERS_JS_CONFIG = "transformers.js_config"


def add_web_layout(
    folder: str | os.PathLike[str],
    *,
    fp32: str | os.PathLike[str],
    int8: str | os.PathLike[str] | None = None,
    fp16: str | os.PathLike[str] | None = None,
    config: dict[str, Any] | None = None,
    max_length: int | None = None,
    input_kind: str | None = None,
) -> list[str]:
    """Add `onnx/model.onnx` (+ `model_quantized.onnx`, `model_fp16.onnx`) and the config keys transformers.js reads.

    Args:
        folder: the export folder being written (config.json and the tokenizer files already in it).
        fp32: the validated fp32 graph. Pass `folder / "model.onnx"` when that is the fp32 graph (`--quantize none`),
            so that both names share one file; else the exporter's validated fp32 graph (e.g. in its scratch folder).
        int8: the validated int8 graph (dynamic, or static: both are transformers.js' q8 file), usually
            `folder / "model.onnx"` (the folder's deployable graph).
        fp16: the validated fp16 graph, usually `folder / "model.onnx"` for `--quantize fp16`.
        config: the model's config.json as a dict; None reads `folder / "config.json"`. Written back, completed, to
            `folder / "config.json"`.
        max_length: the export's maximum sequence length: caps `model_max_length` in tokenizer_config.json.
        input_kind: "single" or "pair", as the exporter resolved it (`SourceModel.input_kind`); None reads it from
            the config (`asdfd.core.model_folder.input_kind`).

    Returns:
        The paths written or changed, relative to `folder`, in order.

    Raises:
        FileNotFoundError: a graph that does not exist.
        ModelLoadError: a config whose head asdfd does not support (from `asdfd.core.heads.head_of`).
    """
    folder = Path(folder)
    web = folder / WEB_SUBFOLDER
    web.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for variant, source in (("fp32", fp32), ("int8", int8), ("fp16", fp16)):
        if source is None:
            continue
        target = web / WEB_FILE_NAMES[variant]
        _link_or_copy(Path(source), target)
        written.append(target.relative_to(folder).as_posix())

    config_path = folder / "config.json"
    if config is None:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    dtypes = ("fp32", *(("q8",) if int8 is not None else ()), *(("fp16",) if fp16 is not None else ()))
    default_dtype = "q8" if int8 is not None else "fp32"
    completed = web_config(config, default_dtype, input_kind=input_kind, dtypes=dtypes)
    config_path.write_text(json.dumps(completed, indent=2) + "\n", encoding="utf-8")
    written.append("config.json")

    if max_length is not None and _cap_model_max_length(folder / "tokenizer_config.json", max_length):
        written.append("tokenizer_config.json")
    return written


def web_config(
    config: dict[str, Any],
    default_dtype: str = "fp32",
    *,
    input_kind: str | None = None,
    dtypes: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """A copy of `config` with string-keyed `id2label`, `label2id`, the head's `problem_type`, the task shape
    (`asdfd_input`) and a default dtype.

    Keys already set are kept (a `problem_type` set for another reason, a `transformers.js_config` of the user's),
    except that `id2label` keys become strings, as JSON has them, and that a `transformers.js_config.dtype` that is
    not one of `dtypes` (the graphs the folder has) is replaced by `default_dtype`.
    """
    out = dict(config)
    head = head_of(out)
    id2label = {str(k): str(v) for k, v in (out.get("id2label") or {}).items()}
    if not id2label:
        count = int(out.get("num_labels") or (1 if head == SCORE else 2))
        id2label = {str(i): f"LABEL_{i}" for i in range(count)}
    out["id2label"] = dict(sorted(id2label.items(), key=lambda item: int(item[0])))
    out["label2id"] = {name: int(index) for index, name in out["id2label"].items()}
    if head == MULTI_LABEL:
        out["problem_type"] = "multi_label_classification"
    elif head == SCORE:
        out.setdefault("problem_type", "regression")
    out[INPUT_KEY] = input_kind or resolve_input_kind(out)
    js_config = dict(out.get(_TRANSFORMERS_JS_CONFIG) or {})
    if "dtype" not in js_config or (dtypes is not None and js_config["dtype"] not in dtypes):
        js_config["dtype"] = default_dtype
    out[_TRANSFORMERS_JS_CONFIG] = js_config
    return out


def _link_or_copy(source: Path, target: Path) -> None:
    """`target` as a hard link to `source` (one copy of the weights); a copy where hard links fail (logged)."""
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such graph to add to the web layout")
    if target.exists() or target.is_symlink():
        if target.exists() and os.path.samefile(source, target):
            return
        target.unlink()
    try:
        os.link(source, target)
    except OSError as error:  # another filesystem, or one without hard links (some network and FAT mounts)
        logger.info("%s: hard link failed (%s); copying %s", target, error, source)
        shutil.copyfile(source, target)


def _cap_model_max_length(path: Path, max_length: int) -> bool:
    """Lower tokenizer_config.json's `model_max_length` to `max_length`; True when the file changed."""
    if not path.is_file():
        return False
    tokenizer_config = json.loads(path.read_text(encoding="utf-8"))
    current = tokenizer_config.get("model_max_length")
    if isinstance(current, (int, float)) and current <= max_length:
        return False
    tokenizer_config["model_max_length"] = int(max_length)
    path.write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")
    return True
