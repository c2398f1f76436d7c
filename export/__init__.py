"""asdfd.export: a Hugging Face sequence classifier -> one validated, self-contained ONNX artifact.

Names are imported on first use, so `import asdfd.export.export_config` (dataclasses only) loads neither torch
nor onnxruntime.

Example:
    >>> from asdfd.export import ExportConfig, export_onnx
    >>> result = export_onnx("student/", "student.onnx", ExportConfig(quantize="int8"))
    >>> result.validation["final"]["passed"]
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd.core._lazy import lazy_exports

_NAMES = {
    "export_onnx": "asdfd.export.exporter",
    "ExportResult": "asdfd.export.result",
    **dict.fromkeys(
        (
            "ExportConfig",
            "CalibrationConfig",
            "ValidationConfig",
            "QuantizationPreset",
            "PRESETS",
            "QUANTIZE_CHOICES",
            "dynamic_preset",
            "static_preset",
            "fixed_preset",
        ),
        "asdfd.export.export_config",
    ),
    **dict.fromkeys(("CpuFeatures", "detect_cpu_features", "preset_for_cpu"), "asdfd.export.cpu"),
    **dict.fromkeys(("FusionAudit", "audit_fusions"), "asdfd.export.optimize"),
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.export.cpu import CpuFeatures, detect_cpu_features, preset_for_cpu
    from asdfd.export.export_config import (
        PRESETS,
        QUANTIZE_CHOICES,
        CalibrationConfig,
        ExportConfig,
        QuantizationPreset,
        ValidationConfig,
        dynamic_preset,
        fixed_preset,
        static_preset,
    )
    from asdfd.export.exporter import export_onnx
    from asdfd.export.optimize import FusionAudit, audit_fusions
    from asdfd.export.result import ExportResult
