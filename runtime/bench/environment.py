"""The machine a benchmark ran on, as JSON: CPU model and features, cores, threads, providers, versions."""

from __future__ import annotations

import os
import platform
from typing import Any

from asdfd.hardware import detect_cpu_features, package_versions, physical_cores, usable_cores

__all__ = ["describe_environment"]


def describe_environment(threads: int | None) -> dict[str, Any]:
    """A JSON-ready description of this machine and software.

    Args:
        threads: the intra-op thread count the benchmark fixed (None: library defaults).
    """
    import onnxruntime as ort

    features = detect_cpu_features()
    return {
        "cpu_model": features.model,
        "cpu_features": {name: value for name, value in features.to_dict().items() if isinstance(value, bool)},
        "int8_preset_family": features.preset_family,
        "logical_cores": os.cpu_count(),
        "physical_cores": physical_cores(),
        "usable_cores": usable_cores(),
        "threads": threads,
        "onnxruntime_providers": ort.get_available_providers(),
        "onnxruntime_device": ort.get_device(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
    }
