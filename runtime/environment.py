"""The machine a benchmark ran on: CPU model and features, cores, threads, package versions."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata as importlib_metadata
from typing import Any

__all__ = ["describe_environment", "CPU_FEATURES_OF_INTEREST", "OtherProcessesMeter"]

CPU_FEATURES_OF_INTEREST = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512vnni",
                            "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "neon", "asimd", "sve")
"""CPU flags that decide which onnxruntime int8/fp32 kernels run (VNNI makes int8 MatMul much faster)."""

_PACKAGES = ("asdfd", "numpy", "onnxruntime", "tokenizers", "onnx", "torch", "transformers", "optimum")


def _cpu_info() -> tuple[str, list[str]]:
    try:
        import cpuinfo  # py-cpuinfo; in the `compress` extra, optional here

        info = cpuinfo.get_cpu_info()
        return str(info.get("brand_raw") or platform.processor()), list(info.get("flags", []))
    except Exception:  # not installed, or it could not probe this CPU
        pass
    name, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name in ("", platform.machine()):
                    name = value.strip()
                elif key.strip() in ("flags", "Features") and not flags:
                    flags = value.split()
    except OSError:
        pass
    return name, flags


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except ImportError:
        return None


def describe_environment(threads: int | None) -> dict[str, Any]:
    """A JSON-ready description of this machine and software.

    Args:
        threads: the intra-op thread count the benchmark fixed (None: library defaults).
    """
    import onnxruntime as ort

    cpu_name, flags = _cpu_info()
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_model": cpu_name,
        "cpu_features": {feature: feature in flags for feature in CPU_FEATURES_OF_INTEREST if feature in flags
                         or feature in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")},
        "logical_cores": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": threads,
        "onnxruntime_providers": ort.get_available_providers(),
        "onnxruntime_device": ort.get_device(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


class OtherProcessesMeter:
    """How many cores other processes kept busy while we measured: system CPU time minus our own.

    The 1-min load average cannot tell: it lags by a minute (so `compress run` saw its own distillation
    as "other processes" in the bench that follows it) and counts our own threads.
    """

    def __init__(self) -> None:
        self._start = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple[float, float, float] | None:
        try:
            import psutil

            system = psutil.cpu_times()
            # guest time is already part of user time on Linux
            idle = ("idle", "iowait", "guest", "guest_nice")
            busy = sum(value for name, value in system._asdict().items() if name not in idle)
            own = psutil.Process().cpu_times()
            return time.monotonic(), busy, own.user + own.system
        except Exception:  # psutil missing (runtime-only install) or unsupported platform
            return None

    def busy_cores(self) -> float | None:
        """Mean cores used by other processes since construction (None when it cannot be measured)."""
        end = self._snapshot()
        if self._start is None or end is None or end[0] <= self._start[0]:
            return None
        others = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return round(max(0.0, others) / (end[0] - self._start[0]), 2)
