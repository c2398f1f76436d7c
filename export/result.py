"""`ExportResult`: what `export_onnx` wrote and measured."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ExportResult"]


@dataclass(frozen=True)
class ExportResult:
    """What `export_onnx` wrote and measured."""

    path: Path
    """The .onnx file written (`DIR/model.onnx` in folder mode)."""
    folder: Path | None
    """The folder layout, when `out` was a folder."""
    variant: str
    """What the file holds: "fp32", "fp16" or an int8 preset name (auto: the one it chose)."""
    exporter: str
    input_names: tuple[str, ...]
    size_mb: float
    fp32_size_mb: float
    validation: dict[str, Any]
    """Figures of the final graph ("final") and of the fp32 graph ("fp32") against PyTorch."""
    fusions: dict[str, Any]
    optimization: dict[str, Any]
    candidates: list[dict[str, Any]] = field(default_factory=list)
    """--quantize auto: every variant tried, with agreement, latency and whether it was eligible."""
    fallbacks: list[str] = field(default_factory=list)
    """Quantized variants that failed validation and were replaced by the next one (their verdicts)."""
    cpu: dict[str, Any] = field(default_factory=dict)
    validation_provider: str = "CPUExecutionProvider"
    """The onnxruntime provider the final graph was validated on (fp16: CUDA where onnxruntime has it)."""
    validation_set: dict[str, Any] = field(default_factory=dict)
    """Which inputs the verdicts were reached on: "default" (the validation config as given) or "auto" (the
    larger set `--quantize auto` decides on), with its seed and the count of each kind of input."""
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["path"], data["folder"] = str(self.path), (str(self.folder) if self.folder else None)
        return data

    def summary(self) -> str:
        final = self.validation["final"]
        line = (
            f"{self.path} ({self.variant}, {self.size_mb:.1f} MB = {100 * self.size_mb / self.fp32_size_mb:.0f}% "
            f"of fp32): {final['verdict']}"
        )
        if self.fallbacks:
            line += f" [fallback after {len(self.fallbacks)} failed variant(s): {'; '.join(self.fallbacks)}]"
        return line
