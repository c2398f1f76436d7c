"""Timing loops: warmup, then many repeats, reported as percentiles.

Measured the way onnxruntime's transformers benchmark does it (fixed threads, warmup runs discarded,
then repeated timed runs of one fixed-shape batch), with one change for noisy shared machines: the
models are *interleaved* (round-robin, rotating who goes first), so a burst of load from another
process slows every model alike and the ratios between them stay comparable.

Field names follow optimum-benchmark's latency tracker (count, mean, stdev, p50, p90, p95, p99, unit).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["LatencyStats", "summarize_latencies", "measure_interleaved"]


@dataclass(frozen=True)
class LatencyStats:
    """Latency distribution of one model on one input shape, in milliseconds."""

    count: int
    mean: float
    stdev: float
    p50: float
    p90: float
    p95: float
    p99: float
    unit: str = "ms"

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def summarize_latencies(samples_s: list[float] | np.ndarray) -> LatencyStats:
    """Percentiles of wall-clock samples given in seconds, reported in ms."""
    samples_ms = np.asarray(samples_s, dtype=np.float64) * 1e3
    if samples_ms.size == 0:
        raise ValueError("no latency samples")
    p50, p90, p95, p99 = np.percentile(samples_ms, [50, 90, 95, 99])
    return LatencyStats(count=int(samples_ms.size), mean=float(samples_ms.mean()),
                        stdev=float(samples_ms.std(ddof=1)) if samples_ms.size > 1 else 0.0,
                        p50=float(p50), p90=float(p90), p95=float(p95), p99=float(p99))


def measure_interleaved(
    calls: Mapping[str, Callable[[], object]],
    *,
    warmup: int = 5,
    min_repeats: int = 10,
    max_repeats: int = 100,
    max_seconds: float = 10.0,
) -> dict[str, LatencyStats]:
    """Time each zero-argument callable, round-robin, and summarize.

    Every round runs each callable once (starting with a different one each round). Rounds stop
    after `max_repeats`, or once `max_seconds` of measuring have passed and `min_repeats` are done,
    so a slow model on big batches does not hold up the whole run.

    Args:
        calls: name -> callable that runs one batch (its result is ignored).
        warmup: untimed runs per callable first (allocations, onnxruntime's lazy kernel setup).
    Returns:
        name -> LatencyStats, in the order of `calls`.
    """
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    started = time.perf_counter()
    for round_index in range(max(max_repeats, 1)):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            calls[name]()
            samples[name].append(time.perf_counter() - t0)
        if round_index + 1 >= min_repeats and time.perf_counter() - started > max_seconds:
            break
    return {name: summarize_latencies(samples[name]) for name in names}
