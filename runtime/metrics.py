"""Quality figures of a student against its teacher and the labels. Pure numpy, no state.

Shapes: `logits`/`probs` are (num_texts, num_labels); `labels`/`predictions` are (num_texts,) ints.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "accuracy", "agreement", "mean_kl", "confusion_matrix", "expected_calibration_error"]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, k) logits, in float64 (stable: max subtracted first)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the label."""
    return float(np.mean(np.asarray(logits).argmax(axis=-1) == np.asarray(labels)))


def agreement(student_logits: np.ndarray, teacher_logits: np.ndarray) -> float:
    """Fraction of rows where student and teacher pick the same class (1.0 for a model with itself)."""
    return float(np.mean(np.asarray(student_logits).argmax(-1) == np.asarray(teacher_logits).argmax(-1)))


def mean_kl(student_logits: np.ndarray, teacher_logits: np.ndarray) -> float:
    """Mean over rows of KL(teacher || student) in nats; 0 when the distributions match."""
    p_teacher = softmax(teacher_logits)
    log_p_teacher = np.log(np.clip(p_teacher, 1e-12, None))
    log_p_student = np.log(np.clip(softmax(student_logits), 1e-12, None))
    return float(np.mean(np.sum(p_teacher * (log_p_teacher - log_p_student), axis=-1)))


def confusion_matrix(row_predictions: np.ndarray, column_predictions: np.ndarray, num_labels: int) -> np.ndarray:
    """counts[i, j] = number of texts put in class i by the row model and class j by the column one.

    Returns:
        (num_labels, num_labels) int64; the diagonal is where the two agree.
    """
    counts = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(counts, (np.asarray(row_predictions), np.asarray(column_predictions)), 1)
    return counts


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> float:
    """ECE (Guo et al. 2017): confidence-binned |accuracy - confidence|, weighted by bin size.

    Args:
        probs: (n, k) class probabilities.  labels: (n,) true class indices.
        num_bins: equal-width confidence bins over (0, 1].
    """
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=-1)
    correct = probs.argmax(axis=-1) == np.asarray(labels)
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    ece = 0.0
    for b in range(num_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)
