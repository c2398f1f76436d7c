"""The report's quality section: every model against the reference model (and the labels, when there are any)."""

from __future__ import annotations

from typing import Any

import numpy as np

from asdfd.core.heads import MULTI_LABEL, SINGLE_LABEL
from asdfd.runtime import metrics
from asdfd.runtime.bench.bench_config import BenchConfig
from asdfd.runtime.bench.models import BenchModel
from asdfd.runtime.bench.texts import EvalTexts

__all__ = ["quality_section"]


def _figures(
    models: list[BenchModel],
    logits: dict[str, np.ndarray],
    labels: np.ndarray | None,
    reference: BenchModel,
    threshold: float,
) -> dict[str, dict]:
    """`metrics.task_quality` of every model against the reference (and the labels), plus the confusion table
    against the teacher for single-label heads (the only ones where it means something)."""
    teacher_logits = logits[reference.name]
    figures = {}
    for model in models:
        entry = metrics.task_quality(reference.head, logits[model.name], teacher_logits, labels, threshold=threshold)
        if reference.head == SINGLE_LABEL:
            entry["confusion_vs_teacher"] = metrics.confusion_matrix(
                teacher_logits.argmax(-1), logits[model.name].argmax(-1), len(reference.labels)
            ).tolist()
        figures[model.name] = entry
    return figures


def quality_section(
    models: list[BenchModel],
    logits: dict[str, np.ndarray],
    texts: EvalTexts,
    reference: BenchModel,
    config: BenchConfig,
) -> dict[str, Any]:
    """Where the texts came from, the reference, its labels and head, and per model figures."""
    return {
        **texts.source,
        "num_texts": len(texts.texts),
        "reference": reference.name,
        "labels": list(reference.labels),
        "head": reference.head,
        **({"threshold": config.threshold} if reference.head == MULTI_LABEL else {}),
        "models": _figures(models, logits, texts.labels, reference, config.threshold),
    }
