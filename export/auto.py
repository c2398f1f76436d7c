"""--quantize auto: the fastest of fp32 and this CPU's int8 candidates whose agreement drop stays within budget."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from tqdm.auto import tqdm

from asdfd.core.errors import ValidationError
from asdfd.export.checker import GraphChecker, ValidatedGraph
from asdfd.export.cpu import detect_cpu_features
from asdfd.export.int8 import Int8Builder
from asdfd.export.quantize import auto_candidates
from asdfd.export.variants import QuantizedGraph, size_mb

__all__ = ["choose_auto"]

logger = logging.getLogger(__name__)


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0]


def choose_auto(
    fp32: ValidatedGraph,
    checker: GraphChecker,
    builder: Int8Builder,
    *,
    max_agreement_drop: float,
    show_progress: bool = True,
) -> QuantizedGraph:
    """Time fp32 and every candidate of `auto_candidates`; keep the fastest eligible one.

    Args:
        fp32: the fp32 graph, validated on `checker`'s set (the baseline agreement every drop is measured from).
        checker: the set the candidates are judged on; the caller passes the larger `auto_validation` set.
        max_agreement_drop: percentage points of agreement a faster variant may cost.

    Returns:
        The kept variant; its report is judged against the budget (fp32 agreement minus the drop allowed).
    """
    base_agreement = fp32.report.primary_agreement
    fp32_ms = checker.latency_ms(fp32.path)
    best, best_ms, best_int8 = fp32, fp32_ms, None
    candidates: list[dict[str, Any]] = [
        {
            "variant": "fp32",
            "latency_ms": fp32_ms,
            "agreement": base_agreement,
            "size_mb": size_mb(fp32.path),
            "eligible": True,
        }
    ]
    calibration = None
    presets = auto_candidates(detect_cpu_features())
    for preset in tqdm(presets, desc="auto", disable=not show_progress, leave=False):
        try:
            int8 = builder.build(preset)
            calibration = int8.calibration or calibration
            checked = checker.validate(int8.path, preset.name, "int8")
        except (ValidationError, RuntimeError, ValueError) as err:
            logger.warning("auto: %s failed: %s", preset.name, _first_line(err))
            candidates.append({"variant": preset.name, "error": _first_line(err), "eligible": False})
            continue
        latency = checker.latency_ms(int8.path)
        drop = 100 * (base_agreement - checked.report.primary_agreement)
        eligible = drop <= max_agreement_drop and checked.report.agreement >= checked.report.min_random_agreement
        candidates.append(
            {
                "variant": preset.name,
                "latency_ms": latency,
                "agreement": checked.report.primary_agreement,
                "random_agreement": checked.report.agreement,
                "agreement_drop_points": drop,
                "size_mb": size_mb(int8.path),
                "eligible": eligible,
            }
        )
        logger.info(
            "auto: %-40s %.2f ms, agreement drop %.2f points%s",
            preset.name,
            latency,
            drop,
            "" if eligible else f" (over the {max_agreement_drop} point budget)",
        )
        if eligible and latency < best_ms:
            best, best_ms, best_int8 = checked, latency, int8
    logger.info("auto: kept %s (%.2f ms; fp32 %.2f ms)", best.variant, best_ms, fp32_ms)
    # The criterion that chose it is the budget; report it against the same threshold.
    budget = max(0.0, base_agreement - max_agreement_drop / 100)
    final = dataclasses.replace(best, report=dataclasses.replace(best.report, min_agreement=budget))
    return QuantizedGraph(
        final=final,
        fp32=fp32,
        validation_set=checker.describe(),
        preset=best_int8.preset if best_int8 else None,
        calibration=calibration,
        candidates=tuple(candidates),
    )
