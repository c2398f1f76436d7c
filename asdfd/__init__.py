"""asdfd: data-free distillation of BERT-style text classifiers to fast ONNX students.

`import asdfd` stays cheap and torch-free: the runtime (`asdfd.runtime`) is meant to be embedded in
applications that never install torch. Heavy entry points are re-exported lazily (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd.core._offline import turn_telemetry_off

turn_telemetry_off()  # before any module imports onnxruntime (see asdfd/core/_offline.py)

from asdfd.core._lazy import lazy_exports  # noqa: E402

__version__ = "0.2.0"

_LAZY = {
    "Classifier": "asdfd.runtime.classifier",
    "DistillConfig": "asdfd.compressor.distill_config",
    "distill": "asdfd.compressor.loop",
    "ExportConfig": "asdfd.export.export_config",
    "export_onnx": "asdfd.export.exporter",
}

__all__ = ["__version__", *_LAZY]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor.distill_config import DistillConfig
    from asdfd.compressor.loop import distill
    from asdfd.export.export_config import ExportConfig
    from asdfd.export.exporter import export_onnx
    from asdfd.runtime.classifier import Classifier
