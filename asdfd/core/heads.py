"""What a classifier's head outputs, and how its outputs and an eval file's labels are read. Torch-free.

- single_label: 2+ labels, softmax. One class; KD on the softmaxes (KL); agreement = same argmax; judged by
  accuracy.
- multi_label: config.json `problem_type` multi_label_classification, a sigmoid per label. Every label's probability
  and the labels at or over a threshold; KD = binary KL per label; agreement = the same decision per (text, label);
  judged by micro/macro F1.
- score: one output (regression, rerankers, STS). One number; KD = MSE; agreement = Pearson correlation with the
  teacher; judged by Pearson and Spearman.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from asdfd.core.data import label_ids
from asdfd.core.errors import DataError, ModelLoadError, NonFiniteError

__all__ = [
    "SINGLE_LABEL",
    "MULTI_LABEL",
    "SCORE",
    "HEADS",
    "DEFAULT_THRESHOLD",
    "LABEL_METRICS",
    "PRIMARY_METRIC",
    "head_of",
    "eval_targets",
]

SINGLE_LABEL, MULTI_LABEL, SCORE = "single_label", "multi_label", "score"
HEADS = (SINGLE_LABEL, MULTI_LABEL, SCORE)
DEFAULT_THRESHOLD = 0.5
"""A multi-label model predicts every label whose probability is at least this."""
LABEL_METRICS = {SINGLE_LABEL: ("accuracy",), MULTI_LABEL: ("micro_f1", "macro_f1"), SCORE: ("pearson", "spearman")}
"""The figures against the labels reported for each head (keys of `asdfd.runtime.metrics.task_quality`)."""
PRIMARY_METRIC = {head: names[0] for head, names in LABEL_METRICS.items()}
"""The figure against the labels each head is judged by (and the retention of a student is the ratio of)."""


def _get(config: Any, key: str) -> Any:
    return config.get(key) if isinstance(config, dict) else getattr(config, key, None)


def head_of(config: dict[str, Any] | Any) -> str:
    """The head of a classifier, from config.json (a dict) or a transformers config.

    Raises:
        ModelLoadError: a multi-label or regression `problem_type` that contradicts the number of labels.
    """
    id2label = _get(config, "id2label") or {}
    num_labels = int(_get(config, "num_labels") or len(id2label) or 2)
    problem_type = _get(config, "problem_type")
    if problem_type == "multi_label_classification":
        return MULTI_LABEL
    if problem_type == "regression" and num_labels != 1:
        raise ModelLoadError(
            f"problem_type regression with {num_labels} outputs is not supported: asdfd distills one score "
            "(num_labels 1), a softmax classifier or a multi-label (sigmoid) classifier"
        )
    return SCORE if num_labels == 1 else SINGLE_LABEL


def eval_targets(labels: Sequence[str], label_names: Sequence[str], head: str, source: Any) -> list:
    """An eval file's raw labels as the head reads them.

    single_label: class ids (by name, else integer id); multi_label: one 0/1 row per text over `label_names`,
    from comma-separated names or ids ("joy,love", "" for none is not allowed in files); score: floats.

    Raises:
        DataError: a label that is not a name, id or (for scores) a number.
    """
    if head == SINGLE_LABEL:
        return label_ids(labels, label_names, source)
    if head == SCORE:
        values = []
        for row, label in enumerate(labels, start=1):
            try:
                value = float(label)
            except ValueError:
                raise DataError(f"{source}: label {label!r} is not a number (the model outputs one score)") from None
            if not math.isfinite(value):
                raise NonFiniteError(
                    f"{source}: label {label!r} of data row {row} is not a finite number: fix or drop that row"
                )
            values.append(value)
        return values
    rows = []
    for number, label in enumerate(labels, start=1):
        row = [0] * len(label_names)
        parts = [part.strip() for part in label.split(",")]
        if not all(parts):  # ",,," or "joy,,love": a list with holes is a broken row, not "no labels"
            raise DataError(
                f"{source}: data row {number} has the label list {label!r} with an empty name: write names or ids "
                "separated by single commas"
            )
        for index in label_ids(parts, label_names, source):
            row[index] = 1
        rows.append(row)
    return rows
