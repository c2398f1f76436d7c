"""A data-free estimate of how much of the teacher's accuracy the student keeps on real text.

The user has no labelled data, so the estimate reads only a synthetic held-out set the distiller builds and never
trains on: whole vocabulary words drawn by the Zipf prior, labelled by the teacher. The signal is the student's
*macro* agreement with the teacher there: the mean, over the classes the teacher predicts, of the agreement on the
inputs it assigns to each, so a class the student has not learned pulls it down however rare it is. Of the
signals measured (plain, confident-input and macro agreement on uniform random tokens and on words), it tracked
real-text retention best across the SST-2 and emotion teachers when a line fitted on one task is applied to the
other. A straight line maps it to the expected retention (student / teacher accuracy); the fit, every signal's
error and the caveats are in docs/distill_results.md, section 'A data-free quality estimate'. Torch-free: it
reads the metrics `distill` wrote.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SIGNAL", "PAIRS_NOTE", "quality_estimate", "expected_retention"]

SIGNAL = "heldout_words_macro_agreement"
"""The metric of `distill` the estimate reads."""
INTERCEPT, SLOPE = 0.500, 0.514
"""expected retention = INTERCEPT + SLOPE * signal (least squares over the runs in docs/distill_results.md)."""
ERROR = 0.08
"""Largest |expected − measured| retention over those 28 runs (7.9 points; 7.6 fitted on one task and applied to
the other): the estimate's stated uncertainty."""
WARN_BELOW = 0.9
"""Expected retention under which the report warns."""


def expected_retention(signal: float) -> float:
    """The retention (student / teacher accuracy on real text) the signal predicts, clipped to [0, 1]."""
    return min(1.0, max(0.0, INTERCEPT + SLOPE * signal))


PAIRS_NOTE = (
    "No data-free quality estimate for a sentence-pair teacher: it is fitted on single-text teachers and "
    "overestimated an MRPC student by far (docs/task_shapes.md). Measure the student on labelled pairs "
    "(--eval-file) if you have any."
)
"""The report's note in place of the estimate for pair teachers."""


def quality_estimate(metrics: dict[str, Any]) -> dict[str, Any]:
    """{"signal", "value", "expected_retention", "error", "summary", "warning"} from `distill`'s metrics; {} when
    the signal is missing (a student distilled by an older version, a multi-label or score head) or the teacher
    takes sentence pairs (`metrics["input_kind"]`: the fit does not carry over; `PAIRS_NOTE`)."""
    if metrics.get("input_kind") == "pair":
        return {}
    value = metrics.get(SIGNAL)
    if not isinstance(value, (int, float)) or math.isnan(value):
        return {}
    retention = expected_retention(float(value))
    summary = (
        f"the student agrees with the teacher on {100 * value:.1f}% of synthetic word inputs, averaged over "
        f"the teacher's classes; students of the SST-2 and emotion teachers with that agreement kept about "
        f"{100 * retention:.0f}% (± {100 * ERROR:.0f} points) of the teacher's accuracy on real text"
    )
    warning = None
    if retention < WARN_BELOW:
        warning = (
            f"The student is likely to keep only about {100 * retention:.0f}% of the teacher's accuracy: try a "
            "deeper student (--student-layers 3), a longer budget (--minutes 15), or --student-ffn all; "
            "measure it on labelled text (--eval-file) if you have any."
        )
    return {
        "signal": SIGNAL,
        "value": round(float(value), 4),
        "expected_retention": round(retention, 4),
        "error": ERROR,
        "summary": summary,
        "warning": warning,
    }
