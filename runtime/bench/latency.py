"""Timing loops: warmup, then many repeats, reported as percentiles.

Measured the way onnxruntime's transformers benchmark does it (fixed threads, warmup runs discarded,
then repeated timed runs of one fixed-shape batch), with one change for noisy shared machines: the
models are *interleaved* in short blocks (round-robin, rotating who goes first), so a burst of load from
another process slows every model alike and the ratios between them stay comparable.

Why blocks with a pause, not one run each: onnxruntime's intra-op threads (and PyTorch's OpenMP pool) keep
spinning for a while after a run returns, waiting for more work. Alternating single runs made each model
compete with the previous model's spinning threads, which inflated every latency well above what each
model takes alone; blocks of 10 runs after a pause (`IDLE_PAUSE_S`) brought them back to about the
stand-alone figures (measured: docs/bench_results.md, section 'Why these figures differ from earlier runs (a
measurement bug, fixed)').

Field names follow optimum-benchmark's latency tracker (count, mean, stdev, p50, p90, p95, p99, unit).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["LatencyStats", "summarize_latencies", "measure_interleaved", "IDLE_PAUSE_S"]

IDLE_PAUSE_S = 0.05
"""Pause before a model's timed runs, so the previous model's spinning thread pool has gone idle."""


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
    return LatencyStats(
        count=int(samples_ms.size),
        mean=float(samples_ms.mean()),
        stdev=float(samples_ms.std(ddof=1)) if samples_ms.size > 1 else 0.0,
        p50=float(p50),
        p90=float(p90),
        p95=float(p95),
        p99=float(p99),
    )


def measure_interleaved(
    calls: Mapping[str, Callable[[], object]],
    *,
    warmup: int = 5,
    min_repeats: int = 10,
    max_repeats: int = 100,
    max_seconds: float = 10.0,
    block: int = 10,
    pause_s: float = IDLE_PAUSE_S,
) -> dict[str, LatencyStats]:
    """Time each zero-argument callable in round-robin blocks, and summarize.

    Every round runs each callable `block` times in a row (starting with a different callable each
    round), after a pause of `pause_s` that lets the previous model's thread pool go idle. Rounds stop
    after `max_repeats` runs per callable, or once `max_seconds` of measuring have passed and
    `min_repeats` are done, so a slow model on big batches does not hold up the whole run.

    Args:
        calls: name -> callable that runs one batch (its result is ignored).
        warmup: untimed runs per callable first (allocations, onnxruntime's lazy kernel setup).
    Returns:
        name -> LatencyStats, in the order of `calls`.
    """
    if block < 1 or pause_s < 0:
        raise ValueError("need block >= 1 and pause_s >= 0")
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    started = time.perf_counter()
    total = max(max_repeats, 1)
    done = 0
    round_index = 0
    while done < total:
        runs = min(block, total - done)
        if time.perf_counter() - started > max_seconds:
            if done >= min_repeats:
                break
            runs = min(runs, min_repeats - done)  # out of time: only what min_repeats still asks for
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(pause_s)
            for _ in range(runs):
                t0 = time.perf_counter()
                calls[name]()
                samples[name].append(time.perf_counter() - t0)
        done += runs
        round_index += 1
    return {name: summarize_latencies(samples[name]) for name in names}
