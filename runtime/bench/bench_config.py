"""What `compress bench` measures and how: `BenchConfig`, a dataclass importable without onnxruntime."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asdfd.core.config_file import as_path, check_range
from asdfd.core.errors import ConfigError
from asdfd.export.export_config import QUANTIZE_CHOICES

__all__ = ["BenchConfig", "QUANTIZE_NAMES"]

QUANTIZE_NAMES = {choice: "fp32" if choice == "none" else choice for choice in QUANTIZE_CHOICES}
"""ExportConfig.quantize value -> the name shown in reports."""


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What `compress bench` measures and how.

    Example:
        >>> report = run_bench(BenchConfig(teacher=Path("bert-sst2"), students=(Path("student.onnx"),),
        ...                                eval_file=Path("dev.tsv"), threads=2, out=Path("report")))
        >>> print(report.to_markdown())
    """

    teacher: Path
    """Hugging Face folder of the teacher (config.json, weights, tokenizer), or a Hub id (org/name)."""
    students: tuple[Path, ...] = ()
    """Exported artifacts to compare (.onnx files or export folders)."""
    eval_file: Path | None = None
    """CSV/TSV with texts (and optionally labels); None: generated texts, agreement only."""
    text_column: str = "sentence"
    """Text column of the eval file."""
    label_column: str | None = "label"
    """Label column of the eval file (ignored when the file lacks it; None: no labels)."""
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    """Batch sizes of the latency grid."""
    seq_lens: tuple[int, ...] = (16, 64, 128)
    """Token lengths of the fixed-shape latency batches (no padding)."""
    threads: int | None = None
    """Intra-op threads of every model (None: the physical cores this process may use)."""
    thread_sweep: tuple[int, ...] = ()
    """Extra thread counts: single-stream latency at batch 1 and saturated throughput with that many streams."""
    teacher_pytorch: bool = True
    """Measure the teacher in PyTorch fp32 (and use it as the quality reference)."""
    teacher_onnx: tuple[str, ...] = ("none", "int8")
    """Teacher ONNX baselines to build through the exporter (ExportConfig.quantize values)."""
    max_length: int = 128
    """Truncation for the PyTorch teacher and the teacher baselines (as `compress export`'s default)."""
    input_kind: str = "auto"
    """The teacher's task shape: "single", "pair" (sentence pairs) or "auto" (config.json's `asdfd_input`, else
    pair-task label names, else single); the students' is in their artifacts."""
    threshold: float = 0.5
    """Multi-label models: the probability at or over which a label counts as predicted (F1, agreement)."""
    warmup: int = 5
    """Untimed runs per model and shape before timing."""
    min_repeats: int = 10
    """Timed runs per model and shape at least."""
    max_repeats: int = 100
    """Timed runs per model and shape, unless `max_seconds_per_cell` runs out first (after min_repeats)."""
    max_seconds_per_cell: float = 10.0
    """Time budget per batch x length cell (after min_repeats)."""
    throughput_batch_size: int = 32
    """Batch size of the end-to-end throughput pass."""
    max_eval_texts: int | None = None
    """Use only the first N texts of the eval file (None: all)."""
    num_generated_texts: int = 256
    """Texts to generate from the tokenizer's vocabulary when there is no eval file."""
    saturation_texts: int = 1024
    """Texts processed per saturated-throughput measurement (taken cyclically from the eval texts), in
    chunks of 8 batches, as the single-stream pass."""
    out: Path | None = None
    """Folder for report.json, report.md, latency.png and the cached teacher baselines (None: nothing written)."""
    show_progress: bool = True
    """Progress bars on the terminal."""
    seed: int = 0
    """Seeds generated texts and latency batches."""

    def __post_init__(self) -> None:
        self._coerce_paths()
        for name in ("batch_sizes", "seq_lens"):
            values = getattr(self, name)
            if not values or any(v < 1 for v in values):
                raise ConfigError(f"{name} must be a non-empty list of positive integers, got {list(values)}")
        if any(v < 3 for v in self.seq_lens):
            raise ConfigError(f"seq_lens must be >= 3 tokens (two are special tokens), got {list(self.seq_lens)}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        if any(v < 1 for v in self.thread_sweep):
            raise ConfigError(f"thread_sweep values must be >= 1, got {list(self.thread_sweep)}")
        unknown = [q for q in self.teacher_onnx if q not in QUANTIZE_NAMES]
        if unknown:
            raise ConfigError(f"unknown teacher_onnx quantization {unknown}: choose from {list(QUANTIZE_NAMES)}")
        if self.min_repeats < 1 or self.max_repeats < self.min_repeats or self.warmup < 0:
            raise ConfigError("need warmup >= 0 and 1 <= min_repeats <= max_repeats")
        if self.max_length < 3 or self.throughput_batch_size < 1 or self.saturation_texts < 1:
            raise ConfigError("max_length must be >= 3; throughput_batch_size and saturation_texts >= 1")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if not self.teacher_pytorch and not self.teacher_onnx:
            raise ConfigError("nothing to use as the teacher reference: keep teacher_pytorch or an ONNX baseline")
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Sane upper bounds (asdfd.core.config_file.LIMITS), before any batch is allocated."""
        for value in self.batch_sizes:
            check_range("batch_sizes values", value, 1, "batch_size")
        for value in self.seq_lens:
            check_range("seq_lens values", value, 3, "length")
        for value in (self.threads, *self.thread_sweep):
            check_range("threads", value, 1, "threads")
        check_range("max_length", self.max_length, 3, "length")
        check_range("throughput_batch_size", self.throughput_batch_size, 1, "batch_size")
        for name in ("saturation_texts", "num_generated_texts", "max_repeats", "warmup"):
            check_range(name, getattr(self, name), 0, "texts")
        check_range("seed", self.seed, 0, "seed")

    def _coerce_paths(self) -> None:
        """Paths given as `str` or `os.PathLike` become `Path`s, once; anything else is refused by name."""
        students = (self.students,) if isinstance(self.students, (str, os.PathLike)) else self.students
        if not isinstance(students, (tuple, list)):
            raise ConfigError(f"students: expected a list of paths, got {self.students!r}")
        optional = {name: getattr(self, name) for name in ("eval_file", "out")}
        paths = {
            "teacher": as_path(self.teacher, "teacher"),
            "students": tuple(as_path(path, f"students[{i}]") for i, path in enumerate(students)),
            **{name: as_path(value, name, optional=True) for name, value in optional.items()},
        }
        for name, value in paths.items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The fields as the report records them (paths as strings)."""
        return {
            name: str(value) if isinstance(value, Path) else [str(p) for p in value] if name == "students" else value
            for name, value in dataclasses.asdict(self).items()
        }
