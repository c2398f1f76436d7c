"""asdfd.runtime.bench: latency, throughput and quality of students against their teacher.

A separate part of the runtime, imported only when used (`asdfd.runtime` never loads it): the benchmark
measures the teacher in PyTorch and builds its ONNX baselines through `asdfd.export`, so it sits above the
exporter in the package graph, while the deployable `Classifier` sits below it.

Example:
    >>> from asdfd.runtime.bench import BenchConfig, run_bench
    >>> report = run_bench(BenchConfig(teacher=Path("bert-sst2"), students=(Path("student.onnx"),)))
"""

from __future__ import annotations

from asdfd.runtime.bench.latency import LatencyStats
from asdfd.runtime.bench.report import BenchReport
from asdfd.runtime.bench.runner import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench", "BenchReport", "LatencyStats"]
