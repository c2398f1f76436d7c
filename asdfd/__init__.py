"""asdfd: data-free distillation of BERT-style text classifiers to fast ONNX students.

`import asdfd` stays cheap and torch-free: the runtime (`asdfd.runtime`) is meant to be embedded in
applications that never install torch. Heavy entry points are re-exported lazily (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_LAZY = {
    "Classifier": "asdfd.runtime",
    "DistillConfig": "asdfd.compressor",
    "distill": "asdfd.compressor",
    "ExportConfig": "asdfd.export",
    "export_onnx": "asdfd.export",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor import DistillConfig, distill
    from asdfd.export import ExportConfig, export_onnx
    from asdfd.runtime import Classifier


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asdfd' has no attribute {name!r}")
