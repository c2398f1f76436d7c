"""Quality metrics and latency summaries: properties on hand-made arrays."""

from __future__ import annotations

import time

import numpy as np
import pytest

from asdfd.runtime import metrics
from asdfd.runtime.bench.latency import LatencyStats, measure_interleaved, summarize_latencies


def test_accuracy_agreement_confusion_on_known_arrays():
    teacher = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])  # argmax 0 1 0 1
    student = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])  # argmax 0 0 1 1
    labels = np.array([0, 1, 0, 0])
    assert metrics.accuracy(teacher, labels) == 0.75
    assert metrics.accuracy(student, labels) == 0.25
    assert metrics.agreement(student, teacher) == 0.5
    assert metrics.agreement(teacher, teacher) == 1.0
    counts = metrics.confusion_matrix(teacher.argmax(-1), student.argmax(-1), 2)
    assert counts.tolist() == [[1, 1], [1, 1]]
    assert np.trace(counts) / counts.sum() == metrics.agreement(student, teacher)


def test_kl_is_zero_for_identical_and_positive_otherwise():
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(50, 3))
    assert metrics.mean_kl(teacher, teacher) == pytest.approx(0.0, abs=1e-12)
    assert metrics.mean_kl(teacher + 5.0, teacher) == pytest.approx(0.0, abs=1e-12)  # softmax is shift-invariant
    assert metrics.mean_kl(rng.normal(size=(50, 3)), teacher) > 0.01
    probabilities = metrics.softmax(np.array([[1000.0, 0.0]]))  # stable for large logits
    assert np.isfinite(probabilities).all() and probabilities[0, 0] == pytest.approx(1.0)


def test_ece_of_calibrated_and_overconfident_models():
    # 10 texts at confidence 0.8 of which 8 are right: perfectly calibrated
    probs = np.tile([0.8, 0.2], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)
    assert metrics.expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)
    # same predictions at confidence 0.99: |0.8 - 0.99| = 0.19
    overconfident = np.tile([0.99, 0.01], (10, 1))
    assert metrics.expected_calibration_error(overconfident, labels) == pytest.approx(0.19)


def test_latency_summary_fields_and_order():
    stats = summarize_latencies([0.001 * k for k in range(1, 101)])
    assert isinstance(stats, LatencyStats)
    assert set(stats.to_dict()) == {"count", "mean", "stdev", "p50", "p90", "p95", "p99", "unit"}
    assert stats.unit == "ms" and stats.count == 100
    assert stats.p50 <= stats.p90 <= stats.p95 <= stats.p99
    assert stats.p50 == pytest.approx(50.5) and stats.mean == pytest.approx(50.5)


def test_measure_interleaved_alternates_and_respects_budget():
    order = []
    calls = {"slow": lambda: (order.append("slow"), time.sleep(0.002)), "fast": lambda: order.append("fast")}
    stats = measure_interleaved(calls, warmup=2, min_repeats=4, max_repeats=6, max_seconds=60, block=1, pause_s=0)
    assert stats["slow"].count == stats["fast"].count == 6
    assert stats["slow"].p50 > stats["fast"].p50
    timed = order[4:]  # after 2 warmups each
    assert timed[:4] == ["slow", "fast", "fast", "slow"]  # who goes first rotates every round
    stats = measure_interleaved(calls, warmup=0, min_repeats=3, max_repeats=1000, max_seconds=0.0)
    assert stats["slow"].count == 3  # time budget spent: stops right after min_repeats


def test_measure_interleaved_runs_in_blocks_after_a_pause():
    """Blocks keep one model's idle-spinning thread pool from slowing the next model's runs."""
    order = []
    calls = {
        "a": lambda: order.append(("a", time.perf_counter())),
        "b": lambda: order.append(("b", time.perf_counter())),
    }
    stats = measure_interleaved(calls, warmup=0, min_repeats=1, max_repeats=7, max_seconds=60, block=3, pause_s=0.02)
    assert stats["a"].count == stats["b"].count == 7  # the last block is cut to max_repeats
    names = "".join(name for name, _ in order)
    assert names == "aaabbb" + "bbbaaa" + "ab"
    switch = names.index("b")
    assert order[switch][1] - order[switch - 1][1] >= 0.02  # paused before the next model's block
    with pytest.raises(ValueError, match="block"):
        measure_interleaved(calls, block=0)
