"""The int8 recipe that is fast and safe on this CPU (its features: `asdfd.core.hardware`).

x86 without VNNI: 7-bit weights (U8S8 kernels can saturate int16 accumulators); with VNNI: full 8 bits;
ARM64: S8S8 in QDQ format for static graphs.
"""

from __future__ import annotations

from asdfd.core.hardware import CpuFeatures, detect_cpu_features
from asdfd.export.export_config import PRESETS, QuantizationPreset

__all__ = ["CpuFeatures", "detect_cpu_features", "preset_for_cpu"]


def preset_for_cpu(mode: str, features: CpuFeatures | None = None) -> QuantizationPreset:
    """The named preset for `mode` ("dynamic", "static", or "fixed": batch-invariant) on this CPU, e.g.
    PRESETS["avx2"], PRESETS["avx2-fixed"]."""
    features = features or detect_cpu_features()
    key = features.preset_family + ("" if mode == "dynamic" else f"-{mode}")
    return PRESETS[key]
