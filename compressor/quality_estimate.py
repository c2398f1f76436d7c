"""A data-free estimate of how much of the teacher's accuracy the student keeps on real text, or "unknown" and why.

The user has no labelled data, so the estimate reads only the held-out probes the distiller builds and never trains
on (`asdfd.compressor.probes`): one synthetic set per input form (random tokens, words, short texts, questions;
for pairs edits, hypotheses, reorderings, unrelated and swapped pairs), labelled by the teacher. Per probe the
signal is the student's *macro* agreement with the teacher there (the mean, over the classes the teacher predicts,
of the agreement on the inputs it assigns to each). Real inputs may look like any probe, so the estimate reads the
weakest of them (`SIGNAL`); the line through (1, 1), retention = 1 − K · (1 − signal) (a student that matches the
teacher on every input keeps all of it), maps it to the expected retention (student / teacher accuracy), with the
largest error seen on a teacher left out of the fit as its band. Every constant below comes from
`benchmarks/quality_fit.py` over the runs in docs/distill_results.md ("2026-12-07").

It says "unknown" instead of a number, with the reason and what to do, where the fit cannot vouch for one:
a head or task shape the fit has not seen, more classes than any fitted teacher had, probes that disagree (the
student matches the teacher on some forms of input and not on others: which one real inputs look like decides),
or a signal outside the fitted range. Torch-free: it reads the metrics `distill` wrote.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from asdfd.core.heads import SINGLE_LABEL

__all__ = ["PROBES", "SIGNAL", "signals", "quality_estimate", "expected_retention"]

PROBES = (
    "random", "words", "short", "question", "edit", "hypothesis", "reorder", "unrelated", "swap",
)  # fmt: skip
"""The probes the estimate reads (`heldout_<probe>_macro_agreement` in distill's metrics)."""
SIGNAL = "min_text"
"""The signal the line reads (`signals`): the lowest macro agreement over the probes other than uniform random tokens
(a teacher's answers on those are noise no real input resembles)."""
K = 0.387
"""expected retention = 1 − K · (1 − signal): least squares over the distilled students of the SST-2 and emotion
teachers (17 runs, retention on their held-out sets)."""
ERROR = 0.07
"""The stated band: the largest |expected − measured| retention on a teacher left out of the fit (6.8 points, over
the dev and held-out sets), rounded up."""
FITTED_RANGE = (0.61, 1.0)
"""Signal values the fit vouches for: from the weakest distilled student it saw (0.613) up to a perfect one; below,
students were floors (no training) or none was seen: unknown."""
FITTED_CLASSES = (2, 6)
"""Fewest and most classes of a fitted teacher; more (or fewer) is a kind the fit has not seen: unknown."""
MAX_SPREAD = 0.17
"""Largest gap between two probes' macro agreement the fit saw (0.164); wider means the probes disagree: unknown."""
MIN_COVERAGE = 0.83
"""Least share of its classes a fitted teacher predicted (on >= 4 inputs) on its best-covered probe; a teacher that
answers every probe with fewer of its classes is not exercised by them: unknown."""
FITTED_KINDS = ("single",)
"""Task shapes the fit can vouch for."""
WARN_BELOW = 0.9
"""Expected retention under which the report warns."""


def what_to_do(metrics: dict[str, Any]) -> str:
    """The advice of a warning: a deeper student than this one, more minutes, labelled examples."""
    depth = len(metrics.get("student_layers") or ()) or 2
    return (
        f"try a deeper student (--student-layers {depth + 1}), a longer budget (--minutes 15) or --student-ffn all, "
        "and measure the student on a few hundred labelled examples (--eval-file) if you can get them"
    )


def _probe_agreements(metrics: dict[str, Any]) -> dict[str, float]:
    """{probe: the student's macro agreement with the teacher there} for every probe in `metrics` with a value."""
    out = {}
    for probe in PROBES:
        value = metrics.get(f"heldout_{probe}_macro_agreement")
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[probe] = float(value)
    return out


def signals(metrics: dict[str, Any]) -> dict[str, float]:
    """Candidate signals from distill's probe metrics: the words probe, the min and mean over probes, the min over
    probes other than random tokens (`min_text`), the spread (max − min) of those, and the teacher's best class
    coverage over the probes (`coverage`); {} without probes."""
    probes = _probe_agreements(metrics)
    if not probes:
        return {}
    text = {name: value for name, value in probes.items() if name != "random"} or probes
    coverage = [metrics.get(f"heldout_{name}_class_coverage") for name in probes]
    out = {
        "min": min(probes.values()),
        "min_text": min(text.values()),
        "mean": statistics.fmean(probes.values()),
        "spread": max(text.values()) - min(text.values()),
        "coverage": max((c for c in coverage if isinstance(c, (int, float))), default=math.nan),
    }
    if "words" in probes:
        out["words"] = probes["words"]
    return out


def expected_retention(signal: float) -> float:
    """The retention (student / teacher accuracy on real text) the signal predicts, clipped to [0, 1]."""
    return min(1.0, max(0.0, 1.0 - K * (1.0 - signal)))


def _unknown_reasons(metrics: dict[str, Any], values: dict[str, float], probes: dict[str, float]) -> list[str]:
    """Why the fit cannot vouch for a number on this teacher ([] when it can)."""
    why = []
    head = metrics.get("head", SINGLE_LABEL)
    if head != SINGLE_LABEL:
        return [f"no estimate is fitted for {head.replace('_', '-')} teachers"]
    kind = metrics.get("input_kind", "single")
    if kind not in FITTED_KINDS:
        why.append(
            "the teacher takes sentence pairs, and the one pair teacher measured cannot check a fit on pairs"
            if kind == "pair"
            else f"no estimate is fitted for {kind} inputs"
        )
    balance = metrics.get("heldout_words_teacher_balance")
    classes = len(balance) if isinstance(balance, list) else None
    if classes is not None and not FITTED_CLASSES[0] <= classes <= FITTED_CLASSES[1]:
        why.append(
            f"the teacher has {classes} classes; the fitted teachers had {FITTED_CLASSES[0]} to {FITTED_CLASSES[1]}"
        )
    coverage = values.get("coverage", math.nan)
    if math.isfinite(coverage) and coverage < MIN_COVERAGE:
        why.append(
            f"the teacher answers every synthetic probe with at most {100 * coverage:.0f}% of its classes (the fitted "
            f"teachers used at least {100 * MIN_COVERAGE:.0f}%): the probes do not exercise it"
        )
    if values.get("spread", 0.0) > MAX_SPREAD:
        text = {name: value for name, value in probes.items() if name != "random"}
        high, low = max(text, key=text.get), min(text, key=text.get)
        why.append(
            f"the probes disagree: the student matches the teacher on {100 * text[high]:.0f}% of {high} inputs but "
            f"{100 * text[low]:.0f}% of {low} inputs (which of them your real inputs look like decides)"
        )
    signal = values.get(SIGNAL)
    if signal is not None and not FITTED_RANGE[0] <= signal <= FITTED_RANGE[1]:
        why.append(f"its signal ({signal:.2f}) is outside the fitted range {FITTED_RANGE[0]:.2f}-{FITTED_RANGE[1]:.2f}")
    return why


def quality_estimate(metrics: dict[str, Any]) -> dict[str, Any]:
    """The estimate from `distill`'s metrics: {"status": "estimated" or "unknown", "signal", "value", "probes",
    "expected_retention" and "error" (None when unknown), "why" (the reasons for unknown), "summary", "warning"};
    {} when a single-label student has no probe metrics (distilled by an older version)."""
    probes = _probe_agreements(metrics)
    values = signals(metrics)
    if not values and metrics.get("head", SINGLE_LABEL) == SINGLE_LABEL:
        return {}
    signal = values.get(SIGNAL)
    why = _unknown_reasons(metrics, values, probes)
    estimate: dict[str, Any] = {
        "signal": SIGNAL,
        "value": None if signal is None else round(signal, 4),
        "probes": {name: round(value, 4) for name, value in probes.items()},
    }
    if why:
        return {
            **estimate,
            "status": "unknown",
            "expected_retention": None,
            "error": None,
            "why": why,
            "summary": "unknown: " + "; ".join(why),
            "warning": f"No data-free estimate of what the student keeps ({'; '.join(why)}): {what_to_do(metrics)}.",
        }
    retention = expected_retention(signal)
    weakest = min((name for name in probes if name != "random"), key=probes.get, default="random")
    summary = (
        f"the student agrees with the teacher on {100 * signal:.1f}% of synthetic {weakest} inputs (its weakest "
        f"probe), averaged over the teacher's classes; students of the measured teachers with that agreement kept "
        f"about {100 * retention:.0f}% (± {100 * ERROR:.0f} points) of the teacher's accuracy on real text"
    )
    warning = None
    if retention < WARN_BELOW:
        warning = f"The student is likely to keep only about {100 * retention:.0f}% of the teacher's accuracy: "
        warning += what_to_do(metrics) + "."
    return {
        **estimate,
        "status": "estimated",
        "expected_retention": round(retention, 4),
        "error": ERROR,
        "why": [],
        "summary": summary,
        "warning": warning,
    }
