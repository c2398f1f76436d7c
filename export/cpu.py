"""The CPU features that decide which int8 recipe is fast and safe here.

x86 int8 GEMMs multiply u8 activations by s8 weights. Without VNNI (AVX512-VNNI or AVX-VNNI) the
AVX2/AVX512BW path sums pairs into int16 and can saturate, so onnxruntime recommends `reduce_range`
(7-bit weights) there; with VNNI the full 8-bit range is safe. ARM64 prefers S8S8 (QDQ) kernels.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from asdfd.export.config import PRESETS, QuantizationPreset

__all__ = ["CpuFeatures", "detect_cpu_features", "preset_for_cpu"]

logger = logging.getLogger(__name__)


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
    arm_dotprod: bool
    source: str
    """Where the flags came from: /proc/cpuinfo, py-cpuinfo or none."""

    @property
    def is_arm(self) -> bool:
        return self.machine.lower() in ("aarch64", "arm64")

    @property
    def has_vnni(self) -> bool:
        return self.avx512_vnni or self.avx_vnni or self.amx

    @property
    def preset_family(self) -> str:
        """Key prefix into PRESETS: arm64, avx512_vnni or avx2."""
        if self.is_arm:
            return "arm64"
        return "avx512_vnni" if self.has_vnni else "avx2"

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "has_vnni": self.has_vnni, "preset_family": self.preset_family}


def _flags_from_proc() -> tuple[set[str], str] | None:
    path = Path("/proc/cpuinfo")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
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
        import cpuinfo  # py-cpuinfo: slower (~1 s, spawns a process), but works on macOS/Windows
    except ImportError:
        return None
    try:
        info = cpuinfo.get_cpu_info()
    except Exception:  # noqa: BLE001 - py-cpuinfo fails in odd ways on odd systems; we only lose a hint
        return None
    return set(info.get("flags", [])), str(info.get("brand_raw", ""))


@lru_cache(maxsize=1)
def detect_cpu_features() -> CpuFeatures:
    """Read the CPU flags once (from /proc/cpuinfo, else py-cpuinfo) and log the deciding ones."""
    found, source = _flags_from_proc(), "/proc/cpuinfo"
    if found is None:
        found, source = _flags_from_py_cpuinfo(), "py-cpuinfo"
    flags, model = found if found is not None else (set(), "")
    if found is None:
        source = "none"
    features = CpuFeatures(
        machine=platform.machine(), model=model or platform.processor(),
        avx2="avx2" in flags, avx512f="avx512f" in flags,
        avx512_vnni="avx512_vnni" in flags or "avx512vnni" in flags,
        avx_vnni="avx_vnni" in flags or "avxvnni" in flags,
        amx="amx_int8" in flags or "amx_tile" in flags,
        arm_dotprod="asimddp" in flags or "dotprod" in flags,
        source=source,
    )
    logger.info("CPU %s (%s): avx2=%s avx512f=%s vnni=%s arm_dotprod=%s -> int8 preset family %s",
                features.model or "?", features.machine, features.avx2, features.avx512f, features.has_vnni,
                features.arm_dotprod, features.preset_family)
    return features


def preset_for_cpu(mode: str, features: CpuFeatures | None = None) -> QuantizationPreset:
    """The named preset for `mode` ("dynamic" or "static") on this CPU, e.g. PRESETS["avx2"]."""
    features = features or detect_cpu_features()
    key = features.preset_family + ("-static" if mode == "static" else "")
    return PRESETS[key]
