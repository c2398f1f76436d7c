"""The machine: CPU features, cores, other processes' load, package versions. Torch- and onnxruntime-free.

Every kernel choice (int8 recipe, bf16 autocast) is made from the CPU's features read here, never from the
machine the code happened to be measured on. x86 int8 GEMMs multiply u8 activations by s8 weights: without
VNNI (AVX512-VNNI or AVX-VNNI) the AVX2/AVX512BW path sums pairs into int16 and can saturate, so onnxruntime
recommends 7-bit weights there. bf16 matrix units (AVX512-BF16, AMX-BF16) make bf16 autocast pay on a CPU.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata as importlib_metadata
from pathlib import Path

__all__ = [
    "CpuFeatures",
    "detect_cpu_features",
    "physical_cores",
    "usable_cores",
    "default_threads",
    "OtherProcessesMeter",
    "package_versions",
    "VERSIONED_PACKAGES",
]

logger = logging.getLogger(__name__)

VERSIONED_PACKAGES = (
    "asdfd",
    "numpy",
    "onnxruntime",
    "tokenizers",
    "onnx",
    "torch",
    "transformers",
    "optimum",
    "optimum-onnx",
    "onnxscript",
)
"""Packages whose versions are recorded beside every artifact and benchmark."""


@dataclass(frozen=True)
class CpuFeatures:
    machine: str
    """platform.machine(), e.g. x86_64 or aarch64."""
    model: str
    avx2: bool
    avx512f: bool
    avx512_vnni: bool
    avx_vnni: bool
    amx: bool
    """AMX-INT8 tiles (Sapphire Rapids and later)."""
    avx512_bf16: bool
    amx_bf16: bool
    arm_dotprod: bool
    arm_bf16: bool
    source: str
    """Where the flags came from: /proc/cpuinfo, py-cpuinfo or none."""

    @property
    def is_arm(self) -> bool:
        return self.machine.lower() in ("aarch64", "arm64")

    @property
    def has_vnni(self) -> bool:
        return self.avx512_vnni or self.avx_vnni or self.amx

    @property
    def has_bf16_matmul(self) -> bool:
        """Native bf16 dot products: bf16 autocast is faster than fp32 on this CPU."""
        return self.avx512_bf16 or self.amx_bf16 or self.arm_bf16

    @property
    def preset_family(self) -> str:
        """Key prefix into asdfd.export.export_config.PRESETS: arm64, avx512_vnni or avx2."""
        if self.is_arm:
            return "arm64"
        return "avx512_vnni" if self.has_vnni else "avx2"

    def to_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "has_vnni": self.has_vnni,
            "has_bf16_matmul": self.has_bf16_matmul,
            "preset_family": self.preset_family,
        }


def _flags_from_proc() -> tuple[set[str], str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    flags: set[str] = set()
    model = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key in ("model name", "cpu model") and not model:
            model = value.strip()
    return (flags, model) if flags else None


def _flags_from_py_cpuinfo() -> tuple[set[str], str] | None:
    try:
        import cpuinfo  # py-cpuinfo: slower (spawns a process), but works on macOS/Windows
    except ImportError:
        return None
    try:
        info = cpuinfo.get_cpu_info()
    except Exception:  # noqa: BLE001 - py-cpuinfo fails in odd ways on odd systems; we only lose a hint
        return None
    return set(info.get("flags", [])), str(info.get("brand_raw", ""))


def features_from_flags(flags: set[str], *, machine: str, model: str, source: str) -> CpuFeatures:
    """CpuFeatures from a set of /proc/cpuinfo-style flag names."""
    return CpuFeatures(
        machine=machine,
        model=model,
        avx2="avx2" in flags,
        avx512f="avx512f" in flags,
        avx512_vnni="avx512_vnni" in flags or "avx512vnni" in flags,
        avx_vnni="avx_vnni" in flags or "avxvnni" in flags,
        amx="amx_int8" in flags or "amx_tile" in flags,
        avx512_bf16="avx512_bf16" in flags,
        amx_bf16="amx_bf16" in flags,
        arm_dotprod="asimddp" in flags or "dotprod" in flags,
        arm_bf16="bf16" in flags and "asimd" in flags,
        source=source,
    )


@lru_cache(maxsize=1)
def detect_cpu_features() -> CpuFeatures:
    """Read the CPU flags once (from /proc/cpuinfo, else py-cpuinfo) and log the deciding ones."""
    found, source = _flags_from_proc(), "/proc/cpuinfo"
    if found is None:
        found, source = _flags_from_py_cpuinfo(), "py-cpuinfo"
    flags, model = found if found is not None else (set(), "")
    features = features_from_flags(
        flags,
        machine=platform.machine(),
        model=model or platform.processor(),
        source=source if found is not None else "none",
    )
    logger.info(
        "CPU %s (%s): avx2=%s avx512f=%s vnni=%s bf16=%s arm_dotprod=%s",
        features.model or "?",
        features.machine,
        features.avx2,
        features.avx512f,
        features.has_vnni,
        features.has_bf16_matmul,
        features.arm_dotprod,
    )
    return features


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def physical_cores() -> int | None:
    """Physical cores of the machine (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    return psutil.cpu_count(logical=False)


def default_threads() -> int:
    """Intra-op threads for a measurement: the physical cores this process may use (hyper-threads do not help
    dense kernels)."""
    usable = usable_cores()
    return max(1, min(physical_cores() or usable, usable))


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


def package_versions(names: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions
