"""Quality figures of a student against its teacher and the labels. Pure numpy, no state.

Shapes: `logits`/`probs` are (num_texts, num_labels); `labels`/`predictions` are (num_texts,) ints, except
for multi-label heads ((num_texts, num_labels) 0/1) and score heads ((num_texts,) floats). `task_quality` picks the
figures that mean something for each head (asdfd.core.heads).
"""

from __future__ import annotations

import math

import numpy as np

from asdfd.core.errors import NonFiniteError
from asdfd.core.heads import DEFAULT_THRESHOLD, MULTI_LABEL, SCORE, SINGLE_LABEL

__all__ = [
    "softmax",
    "sigmoid",
    "probabilities",
    "accuracy",
    "agreement",
    "mean_kl",
    "confusion_matrix",
    "expected_calibration_error",
    "label_decisions",
    "label_agreement",
    "f1_scores",
    "pearson",
    "spearman",
    "task_quality",
]


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


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function in float64 (stable for large |x|)."""
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -logits))


def probabilities(logits: np.ndarray, head: str) -> np.ndarray:
    """Softmax rows for a single-label head, a sigmoid per label for a multi-label one."""
    return sigmoid(logits) if head == MULTI_LABEL else softmax(logits)


def label_decisions(logits: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Multi-label predictions: (n, k) bool, a label on where its probability is at least `threshold`."""
    return sigmoid(logits) >= threshold


def label_agreement(
    student_logits: np.ndarray, teacher_logits: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Per label: the fraction of texts on which both models make the same decision; (k,) floats."""
    return np.mean(label_decisions(student_logits, threshold) == label_decisions(teacher_logits, threshold), axis=0)


def f1_scores(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(micro F1, macro F1, per-label F1) of (n, k) 0/1 predictions against (n, k) 0/1 truth.

    Macro F1 averages the labels that occur in `truth` (a label no text has cannot be found or missed); a label
    with neither true nor predicted positives scores 0 in the per-label array.
    """
    predicted, truth = np.asarray(predicted).astype(bool), np.asarray(truth).astype(bool)
    tp = (predicted & truth).sum(axis=0).astype(np.float64)
    fp = (predicted & ~truth).sum(axis=0).astype(np.float64)
    fn = (~predicted & truth).sum(axis=0).astype(np.float64)
    denominator = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    micro_denominator = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / micro_denominator) if micro_denominator else 0.0
    present = truth.any(axis=0)
    macro = float(per_label[present].mean()) if present.any() else float("nan")
    return micro, macro, per_label


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two (n,) arrays; nan when either is constant."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else float("nan")


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties sharing their mean rank."""
    values = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two (n,) arrays (Pearson of their tie-averaged ranks)."""
    return pearson(_ranks(a), _ranks(b))


def _mean_binary_kl(student_logits: np.ndarray, teacher_logits: np.ndarray) -> float:
    """Mean over texts and labels of KL(teacher || student) between the per-label Bernoulli distributions."""
    p, q = sigmoid(teacher_logits), np.clip(sigmoid(student_logits), 1e-12, 1 - 1e-12)
    p_safe = np.clip(p, 1e-12, 1 - 1e-12)
    kl = p * (np.log(p_safe) - np.log(q)) + (1 - p) * (np.log(1 - p_safe) - np.log(1 - q))
    return float(kl.mean())


def task_quality(
    head: str,
    model_logits: np.ndarray,
    teacher_logits: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict:
    """The figures of one model against the teacher (and the labels when given) that mean something for its head.

    Every head has "agreement" (single: same class; multi-label: same decision per text and label; score: Pearson
    with the teacher's score) and its `asdfd.core.heads.PRIMARY_METRIC` against the labels (None without labels).
    single_label adds mean_kl, ece; multi_label adds exact_agreement (every label the same), per_label_agreement,
    mean_kl (per-label Bernoulli), micro_f1, macro_f1, per_label_f1; score adds spearman_vs_teacher,
    mse_vs_teacher, pearson, spearman. A figure that is undefined on these inputs (the Pearson correlation of a
    constant score, the macro F1 of labels that never occur) is None, and `entry["undefined"]` says why.
    """
    model_logits, teacher_logits = np.asarray(model_logits), np.asarray(teacher_logits)
    for name, values in (("model", model_logits), ("teacher", teacher_logits)):
        if not np.isfinite(values).all():
            raise NonFiniteError(f"the {name}'s outputs hold NaN/inf: the {name} is broken, its figures mean nothing")
    entry = _task_quality(head, model_logits, teacher_logits, labels, threshold)
    undefined = {
        name: _UNDEFINED_BECAUSE.get(name, "undefined on these inputs")
        for name, value in entry.items()
        if isinstance(value, float) and not math.isfinite(value)
    }
    if undefined:  # a figure that cannot be computed is None and says why; NaN never passes as a number
        entry.update(dict.fromkeys(undefined), undefined=undefined)
    return entry


_UNDEFINED_BECAUSE = {
    "agreement": "the model's or the teacher's scores are constant on these inputs",
    "spearman_vs_teacher": "the model's or the teacher's scores are constant on these inputs",
    "pearson": "the model's scores or the labels are constant",
    "spearman": "the model's scores or the labels are constant",
    "macro_f1": "no label of the model occurs in the labels",
}
"""Why a figure of `task_quality` can be undefined (reported under the entry's "undefined" key)."""


def _task_quality(
    head: str, model_logits: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray | None, threshold: float
) -> dict:
    if head == SINGLE_LABEL:
        entry = {
            "agreement": agreement(model_logits, teacher_logits),
            "mean_kl": mean_kl(model_logits, teacher_logits),
            "accuracy": None,
            "ece": None,
        }
        if labels is not None:
            entry["accuracy"] = accuracy(model_logits, labels)
            entry["ece"] = expected_calibration_error(softmax(model_logits), labels)
        return entry
    if head == MULTI_LABEL:
        per_label = label_agreement(model_logits, teacher_logits, threshold)
        decided = label_decisions(model_logits, threshold)
        entry = {
            "agreement": float(per_label.mean()),
            "exact_agreement": float(np.mean(np.all(decided == label_decisions(teacher_logits, threshold), axis=1))),
            "per_label_agreement": [round(float(x), 4) for x in per_label],
            "mean_kl": _mean_binary_kl(model_logits, teacher_logits),
            "threshold": threshold,
            "micro_f1": None,
            "macro_f1": None,
            "per_label_f1": None,
        }
        if labels is not None:
            micro, macro, per_label_f1 = f1_scores(decided, labels)
            entry.update(micro_f1=micro, macro_f1=macro, per_label_f1=[round(float(x), 4) for x in per_label_f1])
        return entry
    if head == SCORE:
        model_scores, teacher_scores = model_logits.reshape(len(model_logits), -1)[:, 0], teacher_logits[:, 0]
        entry = {
            "agreement": pearson(model_scores, teacher_scores),
            "spearman_vs_teacher": spearman(model_scores, teacher_scores),
            "mse_vs_teacher": float(np.mean((model_scores - teacher_scores) ** 2)),
            "pearson": None,
            "spearman": None,
        }
        if labels is not None:
            entry.update(pearson=pearson(model_scores, labels), spearman=spearman(model_scores, labels))
        return entry
    raise ValueError(f"unknown head {head!r}")
