"""int8 graphs of one fp32 graph, any preset: dynamic, or static with data-free calibration."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from asdfd.core.special_tokens import SpecialTokens
from asdfd.export import quantize
from asdfd.export.calibration import FeedReader, make_calibration_source
from asdfd.export.export_config import CalibrationConfig, QuantizationPreset
from asdfd.export.validate import make_session

__all__ = ["Int8Graph", "Int8Builder"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Int8Graph:
    path: Path
    preset: QuantizationPreset
    calibration: dict[str, Any] | None
    """Static presets: the calibration config, batches generated and the most held in memory at once."""


@dataclass(frozen=True)
class Int8Builder:
    """Quantizes `fp32_path` into `scratch` (the shape-inferred copy every preset starts from is made once)."""

    fp32_path: Path
    scratch: Path
    space: SpecialTokens
    input_names: tuple[str, ...]
    max_length: int
    calibration: CalibrationConfig
    calibration_samples: tuple[Any, Any] | None = None
    """(input_ids, attention_mask) for the "guessed" calibration source."""
    show_progress: bool = True

    def build(self, preset: QuantizationPreset) -> Int8Graph:
        target = self.scratch / f"model.{preset.name}.onnx"
        source = self._preprocessed()
        started = time.perf_counter()
        calibration = None
        # through the module: tests substitute a sabotaged quantizer there
        if preset.mode == "dynamic":
            quantize.quantize_dynamic_int8(source, target, preset)
        else:
            reader = self._calibration_reader()
            quantize.quantize_static_int8(source, target, preset, reader, chunk_batches=self.calibration.chunk_batches)
            calibration = {
                **dataclasses.asdict(self.calibration),
                "num_batches": len(reader),
                "max_batches_in_memory": reader.max_batches_per_range,
            }
        size_mb = target.stat().st_size / 1e6
        logger.info("int8 %s: %.1f MB in %.1f s", preset.name, size_mb, time.perf_counter() - started)
        return Int8Graph(path=target, preset=preset, calibration=calibration)

    def _preprocessed(self) -> Path:
        target = self.scratch / "model.preprocessed.onnx"
        if not target.exists():  # shared by every preset of this export
            quantize.preprocess_for_quantization(self.fp32_path, target)
        return target

    def _calibration_reader(self) -> FeedReader:
        source = make_calibration_source(
            self.calibration,
            space=self.space,
            max_length=self.max_length,
            fp32_session=make_session(self.fp32_path),
            input_names=self.input_names,
            samples=self.calibration_samples,
        )
        progress = tqdm(
            total=source.num_batches,
            desc=f"calibration ({source.name})",
            unit="batch",
            disable=not self.show_progress,
            leave=False,
        )
        logger.info(
            "calibrating on %d generated batches of %d (%s), %d batches in memory at a time",
            source.num_batches,
            self.calibration.batch_size,
            source.name,
            self.calibration.chunk_batches,
        )
        return FeedReader(source, self.input_names, progress=progress)
