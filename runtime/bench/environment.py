"""The benchmark's provenance: the machine and software it ran on, and how loaded the machine was meanwhile."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any

import onnxruntime as ort

from asdfd.core.hardware import (
    OtherProcessesMeter,
    detect_cpu_features,
    package_versions,
    physical_cores,
    usable_cores,
)

__all__ = ["describe_environment", "LoadWatch", "bench_environment", "busy_machine_note"]


def describe_environment(threads: int | None) -> dict[str, Any]:
    """A JSON-ready description of this machine and software.

    Args:
        threads: the intra-op thread count the benchmark fixed (None: library defaults).
    """
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


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on Windows
        return None


@dataclass(frozen=True)
class LoadWatch:
    """Started before measuring: the 1-min load average then, and a meter of other processes' CPU time."""

    load_at_start: float | None = field(default_factory=_load_average)
    others: OtherProcessesMeter = field(default_factory=OtherProcessesMeter)


def bench_environment(threads: int, watch: LoadWatch) -> dict[str, Any]:
    """`describe_environment` plus the load while the benchmark ran (since `watch` started)."""
    return {
        **describe_environment(threads),
        "load_average_1m": {"start": watch.load_at_start, "end": _load_average()},
        "other_processes_busy_cores": watch.others.busy_cores(),
    }


def busy_machine_note(environment: dict) -> str | None:
    """A warning when other processes kept more than half a core busy on average while we measured."""
    busy = environment.get("other_processes_busy_cores")
    if busy is None or busy <= 0.5:
        return None
    return (
        f"Other processes kept {busy:.2f} of {environment['usable_cores']} cores busy on average while this "
        "ran: absolute timings are pessimistic and noisy; the ratios between models, measured interleaved, "
        "are the figures to compare."
    )
