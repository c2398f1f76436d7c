"""asdfd: data-free distillation of BERT-style text classifiers to fast ONNX students.

`import asdfd` stays cheap and torch-free: the runtime (`asdfd.runtime`) is meant to be embedded in
applications that never install torch. Heavy entry points are re-exported lazily (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd._lazy import lazy_exports

__version__ = "0.2.0"

_LAZY = {
    "Classifier": "asdfd.runtime.classifier",
    "DistillConfig": "asdfd.compressor.config",
    "distill": "asdfd.compressor.distill",
    "ExportConfig": "asdfd.export.config",
    "export_onnx": "asdfd.export.pipeline",
}

__all__ = ["__version__", *_LAZY]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor.config import DistillConfig
    from asdfd.compressor.distill import distill
    from asdfd.export.config import ExportConfig
    from asdfd.export.pipeline import export_onnx
    from asdfd.runtime.classifier import Classifier
