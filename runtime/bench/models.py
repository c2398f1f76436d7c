"""The models a benchmark measures, behind one small interface.

`OnnxModel` wraps a `Classifier`; `PyTorchModel` wraps the teacher's Hugging Face folder and imports
torch/transformers inside its constructor only. Both tokenize with the same `TextEncoder`, so an
end-to-end comparison differs only in the model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from asdfd.core import model_folder
from asdfd.core.architectures import architecture_of
from asdfd.core.errors import ModelLoadError
from asdfd.core.heads import SINGLE_LABEL, head_of
from asdfd.core.model_folder import LOCAL_ONLY, load_sequence_classifier, require_tokenizer
from asdfd.runtime.classifier import Classifier
from asdfd.runtime.encoding import TextEncoder, logits_in_batches

__all__ = ["BenchModel", "OnnxModel", "PyTorchModel", "onnx_parameter_count"]

logger = logging.getLogger(__name__)


class BenchModel:
    """Interface: `run` one encoded batch, `predict_logits` end to end, `set_threads`."""

    name: str
    role: str
    """"teacher" (the reference), "baseline" (teacher in another form) or "student"."""
    kind: str
    """"pytorch" or "onnx"."""
    path: Path
    encoder: TextEncoder
    size_mb: float
    num_params: int | None
    labels: tuple[str, ...]
    pairs: bool = False
    """Inputs are (text_a, text_b) pairs."""
    head: str = SINGLE_LABEL
    """What the outputs are (asdfd.core.heads)."""

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def set_threads(self, threads: int | None) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def max_length(self) -> int:
        return self.encoder.max_length

    def predict_logits(self, texts: list, batch_size: int = 32) -> np.ndarray:
        """(len(texts), num_labels) logits in input order, tokenization included (texts, or pairs)."""
        return logits_in_batches(self.encoder, self.run, texts, batch_size, len(self.labels), self.pairs)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            "path": str(self.path),
            "size_mb": round(self.size_mb, 3),
            "num_params": self.num_params,
            "max_length": self.max_length,
        }


def onnx_parameter_count(onnx_path: Path) -> int | None:
    """Number of weight elements in the graph's initializers (None when `onnx` is not installed).

    Int8 weights count once (their scales/zero points are scalars or per-channel vectors, a few
    elements), so an fp32 model and its int8 version report about the same count.
    """
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(onnx_path), load_external_data=False)
    return int(sum(int(np.prod(tensor.dims)) if tensor.dims else 1 for tensor in model.graph.initializer))


class OnnxModel(BenchModel):
    """An exported artifact (student, or the teacher's ONNX baseline)."""

    kind = "onnx"

    def __init__(self, name: str, path: Path, *, role: str, threads: int | None) -> None:
        self.name, self.role, self.path = name, role, Path(path)
        self._threads = threads
        self.classifier = Classifier.load(path, threads=threads)
        self.encoder = self.classifier.encoder
        self.labels = self.classifier.labels
        self.pairs = self.classifier.pairs
        self.head = self.classifier.head
        self.size_mb = self.classifier.info.size_mb
        self.num_params = onnx_parameter_count(self.classifier.info.onnx_path)

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.classifier.run(batch)

    def set_threads(self, threads: int | None) -> None:
        if threads != self._threads:
            self.classifier = Classifier.load(self.path, threads=threads)
            self._threads = threads


class PyTorchModel(BenchModel):
    """The teacher as it is before compression: Hugging Face model, PyTorch fp32, eager, no grad."""

    kind = "pytorch"

    def __init__(
        self, name: str, model_dir: Path, *, threads: int | None, max_length: int, input_kind: str = "auto"
    ) -> None:
        import torch  # lazy: a student-only benchmark runs on the runtime install, without torch

        self.name, self.role, self.path = name, "teacher", Path(model_dir)
        self._torch = torch
        self.set_threads(threads)
        self.model = load_sequence_classifier(model_dir)
        config = self.model.config
        self.labels = tuple(config.id2label[index] for index in range(config.num_labels))
        arch_config = config.to_dict()
        arch = architecture_of(arch_config)
        self.pairs = model_folder.input_kind(arch_config, input_kind) == "pair"
        self.head = head_of(arch_config)
        self.input_names = list(arch.input_names(arch_config))
        self.encoder = TextEncoder(_tokenizer_json(self.path), min(max_length, arch.max_positions(arch_config)))
        weights = [self.path / name for name in ("model.safetensors", "pytorch_model.bin")]
        self.size_mb = sum(p.stat().st_size for p in weights if p.is_file()) / 1e6
        self.num_params = int(sum(p.numel() for p in self.model.parameters()))

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            feed = {name: torch.from_numpy(batch[name]) for name in self.input_names}
            return self.model(**feed).logits.numpy()

    def set_threads(self, threads: int | None) -> None:
        if threads is not None:
            self._torch.set_num_threads(threads)  # process-wide; onnxruntime keeps its own pools


def _tokenizer_json(model_dir: Path) -> str:
    """tokenizer.json of a HF folder; converted from the slow files when only those exist."""
    path = model_dir / "tokenizer.json"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        json.loads(text)  # fail here on a truncated file rather than deep in tokenizers
        return text
    from transformers import AutoTokenizer  # lazy: only folders without tokenizer.json need it

    require_tokenizer(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, **LOCAL_ONLY)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{model_dir} has no tokenizer.json and its tokenizer has no fast version")
    return tokenizer.backend_tokenizer.to_str()
