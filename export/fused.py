"""The fusion step: the fused fp32 graph replaces the unfused one only if it validates and is not slower."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asdfd.export.checker import GraphChecker, ValidatedGraph
from asdfd.export.optimize import FusionAudit, audit_fusions, optimize_graph

__all__ = ["OptimizedGraph", "optimize_fp32", "audit_final_graph"]

logger = logging.getLogger(__name__)

_OPTIMIZED_MAX_SLOWDOWN = 1.25
_OPTIMIZED_MIN_LOSS_MS = 1.0
"""The fused graph is kept unless it is both 25% and 1 ms slower than the unfused one: timings of small
models on shared CPUs are noisy, and fusions rarely lose on CPU."""


@dataclass(frozen=True)
class OptimizedGraph:
    """The fp32 graph the next steps start from, and why it is (or is not) the fused one."""

    graph: ValidatedGraph
    record: dict[str, Any]
    """requested, applied, reason; once the optimizer ran: fusions, latency_ms {unfused, fused}, max_abs_diff."""


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0]


def optimize_fp32(
    fp32: ValidatedGraph, checker: GraphChecker, scratch: Path, *, enabled: bool, num_layers: int, device: str
) -> OptimizedGraph:
    """Fuse `fp32` for `device` ("cpu", or "cuda" for fp16) into `scratch`; keep whichever graph wins.

    The optimizer is best-effort: when it fails, or its graph fails validation or is slower, the unfused graph
    (already valid) is kept, with the reason recorded.
    """
    if not enabled:
        return OptimizedGraph(fp32, {"requested": False, "applied": False, "reason": "--no-optimize"})
    target = scratch / "model.optimized.onnx"
    try:
        audit = optimize_graph(fp32.path, target, num_heads=0, hidden_size=0, num_layers=num_layers, device=device)
    except Exception as err:  # noqa: BLE001 - the optimizer is best-effort; the unfused graph is valid
        logger.warning("transformer optimizer failed (%s); keeping the unfused graph", _first_line(err))
        return OptimizedGraph(
            fp32, {"requested": True, "applied": False, "reason": f"optimizer failed: {_first_line(err)}"}
        )
    fused = checker.validate(target, "fp32-optimized", "fp32")
    base_ms, fused_ms = checker.latency_ms(fp32.path), checker.latency_ms(target)
    record: dict[str, Any] = {
        "requested": True,
        "applied": False,
        "fusions": audit.to_dict(),
        "latency_ms": {"unfused": base_ms, "fused": fused_ms},
        "max_abs_diff": fused.report.max_abs_diff,
    }
    if not fused.report.passed:
        record["reason"] = f"fused graph failed validation: {fused.report.verdict()}"
        logger.warning("keeping the unfused graph: %s", fused.report.verdict())
    elif fused_ms > base_ms * _OPTIMIZED_MAX_SLOWDOWN and fused_ms - base_ms > _OPTIMIZED_MIN_LOSS_MS:
        record["reason"] = f"fused graph slower ({fused_ms:.2f} ms vs {base_ms:.2f} ms)"
        logger.warning("keeping the unfused graph: %s", record["reason"])
    else:
        record.update(applied=True, reason="validated and not slower")
        return OptimizedGraph(dataclasses.replace(fused, variant="fp32"), record)
    return OptimizedGraph(fp32, record)


def audit_final_graph(path: Path, num_layers: int, *, optimize_requested: bool) -> FusionAudit:
    """Count the fused nodes of the final graph; unfused attention is a warning when fusions were asked for."""
    audit = audit_fusions(path, num_layers)
    if audit.attention_fused:
        logger.info("fusion audit: %s", audit.summary())
    else:
        (logger.warning if optimize_requested else logger.info)(
            "fusion audit: attention not fused, expect slower inference (%s)", audit.summary()
        )
    return audit
