"""The data-free quality estimate: monotone in its signal, warns when the student is likely poor, never guesses."""

from __future__ import annotations

import math

from asdfd.compressor.quality_estimate import SIGNAL, WARN_BELOW, expected_retention, quality_estimate


def test_estimate_follows_the_signal_and_warns_below_the_threshold():
    low, high = quality_estimate({SIGNAL: 0.5}), quality_estimate({SIGNAL: 0.95})
    assert low["expected_retention"] < high["expected_retention"] <= 1.0
    assert low["expected_retention"] < WARN_BELOW and "--student-layers 3" in low["warning"]
    assert high["warning"] is None and f"{100 * 0.95:.1f}%" in high["summary"]
    assert 0.0 <= expected_retention(-5.0) <= expected_retention(5.0) <= 1.0


def test_no_signal_no_estimate():
    assert quality_estimate({}) == {} and quality_estimate({SIGNAL: math.nan}) == {}
