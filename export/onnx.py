"""PyTorch sequence classifier -> fp32 ONNX graph with dynamic batch and sequence axes.

Default exporter: optimum-onnx's `main_export`. It carries per-architecture knowledge (which inputs
BERT/DistilBERT/RoBERTa take, dynamic axes, forcing eager attention so SDPA traces cleanly) and uses
the TorchScript exporter, whose graph patterns onnxruntime's transformer optimizer fuses (the dynamo
exporter's graphs are not fused by ORT 1.32's BERT fusions). `exporter="torch"` is the fallback: the
same TorchScript exporter called directly, with the axes declared here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import onnx
import torch

from asdfd.core.architectures import architecture_of
from asdfd.core.errors import ModelLoadError
from asdfd.core.model_folder import LOCAL_ONLY, load_sequence_classifier

__all__ = ["ExportedGraph", "DYNAMIC_AXES", "load_torch_classifier", "torch_input_names", "export_fp32_graph"]

logger = logging.getLogger(__name__)

DYNAMIC_AXES = {0: "batch_size", 1: "sequence_length"}
"""Axes of every input (and axis 0 of `logits`) that vary at run time."""


@dataclass(frozen=True)
class ExportedGraph:
    path: Path
    input_names: tuple[str, ...]
    exporter: str
    """"optimum-onnx <version>" or "torch.onnx (torchscript) <version>"."""


def load_torch_classifier(model_dir: Path) -> Any:
    """Load the folder as an eval-mode `AutoModelForSequenceClassification` with eager attention."""
    return load_sequence_classifier(model_dir, attn_implementation="eager")


def torch_input_names(model: Any) -> tuple[str, ...]:
    """Inputs the graph takes: token_type_ids only where the family has segment embeddings of two or more types
    (BERT, ELECTRA; not DistilBERT, RoBERTa, XLM-R), as the registry says."""
    config = model.config.to_dict()
    return architecture_of(config).input_names(config)


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Tracer warnings are expected for HF models (mask construction); keep them out of the user's log."""
    noisy = [logging.getLogger(name) for name in ("optimum", "transformers")]
    levels = [log.level for log in noisy]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for log in noisy:
            log.setLevel(logging.ERROR)  # opset hints, "install accelerate" notes
        try:
            yield
        finally:
            for log, level in zip(noisy, levels):
                log.setLevel(level)


def _export_with_optimum(model_dir: Path, workdir: Path, opset: int) -> Path:
    from optimum.exporters.onnx import main_export  # lazy: families optimum-onnx lacks never need it

    out = workdir / "optimum"
    with _quiet_export():
        main_export(
            str(model_dir),
            out,
            task="text-classification",
            opset=opset,
            do_validation=False,
            library_name="transformers",
            device="cpu",
            **LOCAL_ONLY,
        )
    return out / "model.onnx"


def _export_with_torch(model: Any, input_names: tuple[str, ...], workdir: Path, opset: int) -> Path:
    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(input_names, inputs))).logits

    # The dummy batch must contain padding: HF models skip the mask when it is all ones, and tracing
    # would freeze that branch into the graph.
    values = {
        "input_ids": torch.randint(5, min(int(model.config.vocab_size), 1000), (2, 8)),
        "attention_mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3]),
        "token_type_ids": torch.zeros((2, 8), dtype=torch.int64),
    }
    dummy = tuple(values[name] for name in input_names)
    path = workdir / "torch" / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_export(), torch.no_grad():
        torch.onnx.export(
            LogitsOnly(model).eval(),
            dummy,
            str(path),
            input_names=list(input_names),
            output_names=["logits"],
            dynamic_axes={**{name: DYNAMIC_AXES for name in input_names}, "logits": {0: "batch_size"}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    model.eval()  # the exporter restores the wrapper's mode recursively: keep the shared model in eval
    return path


def export_fp32_graph(model_dir: Path, model: Any, workdir: Path, *, opset: int, exporter: str) -> ExportedGraph:
    """Export `model` (loaded from `model_dir`) to `workdir/model.fp32.onnx`.

    Args:
        model_dir: the Hugging Face folder (optimum re-loads it from there).
        model: the same model, already loaded (used by the torch exporter).
        workdir: scratch folder (inside the atomic temp dir).
    """
    target = workdir / "model.fp32.onnx"
    if exporter == "optimum" and not architecture_of(model.config).optimum_export:
        logger.info("optimum-onnx does not export %s: using torch.onnx", model.config.model_type)
        exporter = "torch"
    if exporter == "optimum":
        import optimum.onnx as optimum_onnx  # noqa: F401 - fails early if optimum-onnx is missing

        produced = _export_with_optimum(model_dir, workdir, opset)
        label = f"optimum-onnx {version('optimum-onnx')} (torch.onnx torchscript)"
    else:
        produced = _export_with_torch(model, torch_input_names(model), workdir, opset)
        label = f"torch.onnx torchscript {torch.__version__}"
    os.replace(produced, target)
    shutil.rmtree(produced.parent, ignore_errors=True)
    graph = onnx.load(str(target), load_external_data=False)
    input_names = tuple(value.name for value in graph.graph.input)
    outputs = [value.name for value in graph.graph.output]
    if outputs[:1] != ["logits"]:
        raise ModelLoadError(f"exported graph returns {outputs}, expected logits: is {model_dir} a classifier?")
    logger.info("exported %s with %s (opset %d): inputs %s", model_dir, label, opset, list(input_names))
    return ExportedGraph(path=target, input_names=input_names, exporter=label)
