"""asdfd.export: a Hugging Face sequence classifier -> one validated, self-contained ONNX artifact.

Example:
    >>> from asdfd.export import ExportConfig, export_onnx
    >>> result = export_onnx("student/", "student.onnx", ExportConfig(quantize="int8"))
    >>> result.validation["final"]["agreement"] >= 0.99
    True
"""

from __future__ import annotations

from asdfd.export.config import (PRESETS, CalibrationConfig, ExportConfig, QuantizationPreset, ValidationConfig,
                                 dynamic_preset, static_preset)
from asdfd.export.cpu import CpuFeatures, detect_cpu_features, preset_for_cpu
from asdfd.export.optimize import FusionAudit, audit_fusions
from asdfd.export.package import read_metadata
from asdfd.export.pipeline import ExportResult, export_onnx

__all__ = [
    "export_onnx", "ExportConfig", "ExportResult", "CalibrationConfig", "ValidationConfig", "QuantizationPreset",
    "PRESETS", "dynamic_preset", "static_preset", "CpuFeatures", "detect_cpu_features", "preset_for_cpu",
    "FusionAudit", "audit_fusions", "read_metadata",
]
