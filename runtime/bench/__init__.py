"""asdfd.runtime.bench: latency, throughput and quality of students against their teacher.

A separate part of the runtime, imported only when used (`asdfd.runtime` never loads it): the benchmark
measures the teacher in PyTorch and builds its ONNX baselines through `asdfd.export`, so it sits above the
exporter in the package graph, while the deployable `Classifier` sits below it.

Example:
    >>> from asdfd.runtime.bench import BenchConfig, run_bench
    >>> report = run_bench(BenchConfig(teacher=Path("bert-sst2"), students=(Path("student.onnx"),)))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd.core._lazy import lazy_exports

_NAMES = {
    "BenchConfig": "asdfd.runtime.bench.bench_config",
    "run_bench": "asdfd.runtime.bench.runner",
    "BenchReport": "asdfd.runtime.bench.report",
    "LatencyStats": "asdfd.runtime.bench.latency",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.runtime.bench.bench_config import BenchConfig
    from asdfd.runtime.bench.latency import LatencyStats
    from asdfd.runtime.bench.report import BenchReport
    from asdfd.runtime.bench.runner import run_bench
