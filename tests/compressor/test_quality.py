"""The data-free quality estimate: monotone in its signal, warns when the student is likely poor, and says "unknown"
with the reason (never a number) where its fit cannot vouch for one."""

from __future__ import annotations

import math

import pytest

from asdfd.compressor import quality_estimate as qe
from asdfd.compressor.quality_estimate import SIGNAL, WARN_BELOW, expected_retention, quality_estimate, signals


def _metrics(probes: dict[str, float], classes: int = 2, **extra) -> dict:
    metrics = {f"heldout_{name}_macro_agreement": value for name, value in probes.items()}
    return {**metrics, "heldout_words_teacher_balance": [1 / classes] * classes, "input_kind": "single", **extra}


def _inside(value: float) -> float:
    """`value` moved into the fitted signal range."""
    low, high = qe.FITTED_RANGE
    return min(high, max(low, value))


def test_estimate_follows_the_weakest_text_probe_and_warns_below_the_threshold():
    low_value, high_value = _inside(qe.FITTED_RANGE[0] + 0.01), _inside(qe.FITTED_RANGE[1] - 0.01)
    probes = {"random": 0.0, "words": high_value, "short": high_value, "question": high_value}  # random tokens: ignored
    high = quality_estimate(_metrics(probes))
    low = quality_estimate(
        _metrics({"random": 0.0, "words": low_value + 0.01, "short": low_value, "question": low_value})
    )
    assert signals(_metrics(probes))["min_text"] == high_value and SIGNAL == "min_text"
    assert high["status"] == low["status"] == "estimated" and low["why"] == []
    assert low["expected_retention"] < high["expected_retention"] <= 1.0
    assert "short" in low["summary"] and f"{100 * low_value:.1f}%" in low["summary"]
    assert f"± {100 * qe.ERROR:.0f} points" in low["summary"]
    if expected_retention(low_value) < WARN_BELOW:
        assert "--student-layers 3" in low["warning"] and "--minutes" in low["warning"]
    if expected_retention(high_value) >= WARN_BELOW:
        assert high["warning"] is None
    assert 0.0 <= expected_retention(-5.0) <= expected_retention(5.0) <= 1.0


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        (_metrics({"words": 0.9, "edit": 0.9}, input_kind="pair"), "sentence pairs"),
        (_metrics({"words": 0.9}, head="multi_label"), "multi-label"),
        ({"heldout_words_agreement": 0.9, "head": "score"}, "score"),
        (_metrics({"words": 0.9, "short": 0.9}, classes=qe.FITTED_CLASSES[1] + 8), "classes"),
        (_metrics({"words": 0.9, "short": 0.9}, classes=1), "classes"),
    ],
)
def test_unknown_where_the_fit_has_not_seen_the_kind(metrics, reason):
    estimate = quality_estimate(metrics)
    assert estimate["status"] == "unknown" and estimate["expected_retention"] is None and estimate["error"] is None
    assert any(reason in why for why in estimate["why"]) and estimate["summary"].startswith("unknown: ")
    assert "--eval-file" in estimate["warning"]  # what to do instead


def test_unknown_when_the_probes_disagree():
    high = _inside(qe.FITTED_RANGE[1])
    low = high - qe.MAX_SPREAD - 0.01
    if low < 0:
        pytest.skip("the fitted spread limit leaves no room for a wider gap")
    estimate = quality_estimate(_metrics({"words": high, "question": low}))
    assert estimate["status"] == "unknown" and "probes disagree" in estimate["why"][0]
    assert "words" in estimate["why"][0] and "question" in estimate["why"][0]


def test_unknown_outside_the_fitted_signal_range():
    low = qe.FITTED_RANGE[0] - 0.02
    if low < 0:
        pytest.skip("the fitted range starts at 0")
    estimate = quality_estimate(_metrics({"words": low, "short": low}))
    assert estimate["status"] == "unknown" and "outside the fitted range" in estimate["why"][0]


def test_no_probe_no_estimate():
    assert quality_estimate({}) == {} and quality_estimate({"heldout_words_macro_agreement": math.nan}) == {}


def test_unknown_when_no_probe_exercises_the_teachers_classes():
    if qe.MIN_COVERAGE <= 0:
        pytest.skip("the fitted teachers set no coverage floor")
    value = _inside(0.9)
    metrics = _metrics({"words": value, "short": value})
    metrics.update({f"heldout_{name}_class_coverage": qe.MIN_COVERAGE / 2 for name in ("words", "short")})
    estimate = quality_estimate(metrics)
    assert estimate["status"] == "unknown" and "do not exercise it" in estimate["why"][0]
