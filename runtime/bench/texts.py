"""The texts the quality and throughput pass runs on: the eval file's (with labels when it has them), or generated."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from asdfd.core.data import LabelledTexts, read_labelled_file, require_text_shape
from asdfd.core.errors import DataError
from asdfd.core.heads import eval_targets
from asdfd.core.model_folder import input_kind, read_classifier_config
from asdfd.runtime.bench.bench_config import BenchConfig
from asdfd.runtime.bench.models import BenchModel

__all__ = ["EvalTexts", "read_eval_file", "eval_texts"]

GENERATED_NOTE = "Quality was measured on GENERATED texts (no --eval-file): agreement with the teacher only."


@dataclass(frozen=True)
class EvalTexts:
    texts: list
    """Texts, or (text_a, text_b) pairs."""
    labels: np.ndarray | None
    """Label indices (single-label) or targets per text; None without labels."""
    source: dict[str, Any]
    """Where they came from, as the report's quality section states it."""


def read_eval_file(config: BenchConfig) -> LabelledTexts | None:
    """The eval file, read before anything slow (a bad file fails before minutes of teacher export)."""
    if config.eval_file is None:
        return None
    data = read_labelled_file(
        config.eval_file, text_column=config.text_column, label_column=config.label_column, require_labels=False
    )
    kind = input_kind(read_classifier_config(config.teacher), config.input_kind)
    require_text_shape(data.texts, kind, config.text_column, config.eval_file)
    return data


def _generated_texts(model: BenchModel, count: int, seed: int) -> list:
    """Random sequences of whole words from the tokenizer's vocabulary (no eval file given); pairs of them for a
    sentence-pair model."""
    words = sorted(w for w in model.encoder.vocabulary() if w.isalpha() and w.isascii() and len(w) > 1)
    if not words:
        raise DataError("the tokenizer has no whole-word entries to generate texts from: pass --eval-file")
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(words, k=rng.randint(4, 40))) for _ in range(count * (2 if model.pairs else 1))]
    return list(zip(texts[::2], texts[1::2])) if model.pairs else texts


def eval_texts(config: BenchConfig, data: LabelledTexts | None, reference: BenchModel, notes: list[str]) -> EvalTexts:
    """The texts of `data` (the first `max_eval_texts`), or generated ones when `data` is None (with a note)."""
    if data is None:
        notes.append(GENERATED_NOTE)
        source = {
            "source": "generated",
            "labelled": False,
            "description": "random sequences of vocabulary words (no eval file): agreement on "
            "these says little about agreement on real text",
        }
        return EvalTexts(_generated_texts(reference, config.num_generated_texts, config.seed), None, source)
    texts = data.texts[: config.max_eval_texts] if config.max_eval_texts else data.texts
    labels = None
    if data.labels is not None:
        labels = np.asarray(eval_targets(data.labels[: len(texts)], reference.labels, reference.head, config.eval_file))
    elif config.label_column:
        notes.append(f"{config.eval_file} has no column {config.label_column!r}: no figures against labels.")
    source = {"source": "eval_file", "path": str(config.eval_file), "labelled": labels is not None}
    return EvalTexts(texts, labels, source)
