"""The graph the artifact holds: fp32 as is, int8 (with fallback recipes) or fp16, each validated.

`--quantize auto` (timing every candidate) is in `asdfd.export.auto`; every path returns a `QuantizedGraph`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from asdfd.core.errors import ValidationError
from asdfd.export.checker import GraphChecker, ValidatedGraph
from asdfd.export.cpu import preset_for_cpu
from asdfd.export.export_config import QuantizationPreset, dynamic_preset, fixed_preset
from asdfd.export.int8 import Int8Builder
from asdfd.export.quantize import convert_fp16

__all__ = ["QuantizedGraph", "keep_fp32", "quantize_int8", "convert_to_fp16", "int8_fallbacks"]

logger = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"


@dataclass(frozen=True)
class QuantizedGraph:
    """The final graph, the fp32 graph it was judged against, and how it was chosen."""

    final: ValidatedGraph
    fp32: ValidatedGraph
    """The fp32 graph on the same validation set as `final` (what `validation["fp32"]` reports)."""
    validation_set: dict[str, Any]
    """`GraphChecker.describe()` of the set both were judged on."""
    preset: QuantizationPreset | None = None
    """The int8 recipe of `final` (None for fp32 and fp16)."""
    calibration: dict[str, Any] | None = None
    """The last static calibration run (batches, memory), if any ran."""
    candidates: tuple[dict[str, Any], ...] = ()
    """--quantize auto: every variant tried, with agreement, latency and whether it was eligible."""
    fallbacks: tuple[str, ...] = ()
    """Verdicts of int8 recipes that failed validation and were replaced by the next one."""
    provider: str = CPU_PROVIDER
    """The onnxruntime provider `final` was validated on."""

    def validation(self) -> dict[str, dict[str, Any]]:
        return {"final": self.final.to_dict(), "fp32": self.fp32.to_dict()}

    def provenance(self) -> dict[str, Any]:
        """This stage's part of the artifact's provenance record."""
        return {
            "variant": self.final.variant,
            "validation": self.validation(),
            "validation_set": self.validation_set,
            "validation_provider": self.provider,
            "quantization": dataclasses.asdict(self.preset) if self.preset else None,
            "calibration": self.calibration,
            "auto_candidates": list(self.candidates),
            "fallbacks": list(self.fallbacks),
        }


def size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def keep_fp32(fp32: ValidatedGraph, checker: GraphChecker) -> QuantizedGraph:
    """--quantize none."""
    return QuantizedGraph(final=fp32, fp32=fp32, validation_set=checker.describe())


def int8_fallbacks(preset: QuantizationPreset, dynamic: QuantizationPreset) -> list[QuantizationPreset]:
    """The recipes tried in order when a quantized graph fails validation: the requested one, the CPU's
    dynamic recipe (for a static request), then dynamic with fp32 word embeddings (the table is half of a
    small model's weights and the likeliest to cost accuracy).

    A batch-invariant request (`QuantizationPreset.batch_invariant`: `--quantize int8-fixed`) falls back to
    batch-invariant recipes only, never to a dynamic one: itself with its FFN output projections in fp32, then also
    with fp32 word embeddings (then the caller keeps fp32, which is batch-invariant too)."""
    if preset.batch_invariant:
        same = dict(
            reduce_range=preset.reduce_range,
            activation_type=preset.activation_type,
            quant_format=preset.quant_format,
            calibration_method=preset.calibration_method,
        )
        chain = [preset, fixed_preset(**same), fixed_preset(**same, quantize_embeddings=False)]
    else:
        chain = [preset, dynamic, dynamic_preset(reduce_range=dynamic.reduce_range, quantize_embeddings=False)]
    unique: list[QuantizationPreset] = []
    for candidate in chain:
        if candidate.name not in {c.name for c in unique}:
            unique.append(candidate)
    return unique


def quantize_int8(
    fp32: ValidatedGraph,
    checker: GraphChecker,
    builder: Int8Builder,
    *,
    mode: str,
    preset: QuantizationPreset | None,
    strict: bool,
) -> QuantizedGraph:
    """--quantize int8 / int8-fixed / int8-static (`mode` "dynamic", "fixed", "static": the CPU's preset when
    `preset` is None): the first recipe of `int8_fallbacks` that validates (`strict`: the first, whatever its
    verdict), else the fp32 graph, with a warning."""
    requested = preset or preset_for_cpu(mode)
    fallbacks: list[str] = []
    calibration = None
    for candidate in int8_fallbacks(requested, preset_for_cpu("dynamic")):
        int8 = builder.build(candidate)
        calibration = int8.calibration or calibration
        checked = checker.validate(int8.path, candidate.name, "int8")
        if checked.report.passed or strict:
            return QuantizedGraph(
                final=checked,
                fp32=fp32,
                validation_set=checker.describe(),
                preset=candidate,
                calibration=calibration,
                fallbacks=tuple(fallbacks),
            )
        fallbacks.append(checked.report.verdict())
        logger.warning(
            "int8 %s failed validation; trying the next recipe (%s)", candidate.name, checked.report.verdict()
        )
    logger.warning(
        "no int8 recipe validated: the artifact is fp32 (%.1f MB). Pass --eval-file to judge int8 on "
        "real texts, or --quantize none to silence this",
        size_mb(fp32.path),
    )
    return QuantizedGraph(
        final=fp32, fp32=fp32, validation_set=checker.describe(), calibration=calibration, fallbacks=tuple(fallbacks)
    )


def convert_to_fp16(fp32: ValidatedGraph, checker: GraphChecker, scratch: Path) -> QuantizedGraph:
    """--quantize fp16: validated on the CUDA provider where this onnxruntime has it, else on CPU (with a warning).

    Raises:
        ValidationError: the graph cannot run on the provider (missing fp16 kernels on CPU).
    """
    target = scratch / "model.fp16.onnx"
    convert_fp16(fp32.path, target)
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    providers = ["CUDAExecutionProvider", CPU_PROVIDER] if cuda else [CPU_PROVIDER]
    if not cuda:
        logger.warning("fp16 is meant for the CUDA provider, which this onnxruntime lacks: validating on CPU")
    try:
        checked = checker.validate(target, "fp16", "fp16", providers=providers)
    except Exception as err:  # noqa: BLE001 - ORT raises its own exception types for missing kernels
        raise ValidationError(
            f"the fp16 graph cannot run on {providers[0]} here ({str(err).splitlines()[0]}); "
            "fp16 targets the CUDA provider: export on a machine with onnxruntime-gpu"
        ) from None
    return QuantizedGraph(final=checked, fp32=fp32, validation_set=checker.describe(), provider=providers[0])
