"""Diagnostics that tell whether synthesis is healthy, and the information-only real-text evaluation.

Agreement with the teacher on held-out random-token inputs tracked real accuracy and flagged the collapse
of naive stage 1; agreement on pseudo samples did not (the student agreed on nearly all of them while calling
most real sentences positive; measured on SST-2 teachers: docs/method.md, section 'Measured here', and
docs/distill_results.md, section 'What the numbers say'). So both are logged,
with the class balance of teacher and student predictions, the norm of guessed rows relative to real
token embeddings (drift), and how many positions changed their nearest token during guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from asdfd.compressor.devices import Placement
from asdfd.compressor.head_losses import TaskHead
from asdfd.compressor.synthesis.tokens import free_positions, nearest_token_ids
from asdfd.core.architectures import architecture_of
from asdfd.core.data import tokenizer_columns
from asdfd.core.heads import LABEL_METRICS, SINGLE_LABEL, eval_targets
from asdfd.runtime.metrics import task_quality

__all__ = [
    "HeldOut",
    "agreement_profile",
    "predict_logits",
    "class_balance",
    "embedding_norm_ratio",
    "changed_fraction",
    "evaluate_heldout",
    "eval_label_ids",
    "evaluate_texts",
    "eval_metrics",
]


@dataclass
class HeldOut:
    """A fixed synthetic set never trained on: embeddings (N, L, d), mask (N, L), the teacher's logits (N, C)."""

    name: str
    embeds: Tensor
    attention_mask: Tensor
    teacher_logits: Tensor


@torch.no_grad()
def predict_logits(
    model: nn.Module, embeds: Tensor, attention_mask: Tensor, placement: Placement, batch_size: int = 64
) -> Tensor:
    """Logits (N, C) in float32 for pseudo embeddings (N, L, d), in eval mode (restored afterwards)."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(embeds), batch_size):
        with placement.autocast():
            logits = model(
                inputs_embeds=embeds[start : start + batch_size],
                attention_mask=attention_mask[start : start + batch_size],
            ).logits
        out.append(logits.float())
    model.train(was_training)
    return torch.cat(out)


def class_balance(logits: Tensor) -> list[float]:
    """Share of samples predicted as each class; logits (N, C) -> C fractions."""
    counts = torch.bincount(logits.argmax(-1).cpu(), minlength=logits.shape[-1]).float()
    return [round(float(x), 4) for x in counts / counts.sum()]


def embedding_norm_ratio(embeds: Tensor, attention_mask: Tensor, token_norm_mean: float) -> float:
    """Mean norm of the free rows of pseudo embeddings over the mean norm of real token embeddings (1 = healthy)."""
    free = free_positions(attention_mask)
    if not bool(free.any()):
        return float("nan")
    return float(embeds[free].float().norm(dim=-1).mean()) / token_norm_mean


def changed_fraction(
    embeds: Tensor, init_ids: Tensor, attention_mask: Tensor, vocabulary: Tensor, candidates: Tensor | None = None
) -> float:
    """Fraction of free positions whose nearest vocabulary token is no longer the token they started from."""
    free = free_positions(attention_mask)
    if not bool(free.any()):
        return float("nan")
    nearest = nearest_token_ids(embeds[free], vocabulary, candidates)
    return float((nearest != init_ids[free]).float().mean())


def agreement_profile(
    student_logits: Tensor, teacher_logits: Tensor, *, confident_share: float = 0.25, min_rows: int = 4
) -> dict[str, float]:
    """Candidate data-free quality signals on one held-out set; (N, C) logits each.

    Returns:
        confident_agreement: agreement on the `confident_share` of rows the teacher is most sure of;
        macro_agreement: mean over the classes the teacher predicts on >= `min_rows` rows of the agreement on
            those rows (a class the student never learned pulls it down however rare it is);
        class_coverage: share of the teacher's classes it predicts on >= `min_rows` rows.
    """
    teacher_probs = teacher_logits.float().softmax(-1)
    confidence = teacher_probs.max(-1).values
    agree = student_logits.argmax(-1) == teacher_logits.argmax(-1)
    keep = max(1, round(len(confidence) * confident_share))
    confident = confidence.argsort(descending=True)[:keep]
    predicted = teacher_logits.argmax(-1)
    per_class = [
        float(agree[predicted == c].float().mean())
        for c in range(teacher_logits.shape[-1])
        if int((predicted == c).sum()) >= min_rows
    ]
    return {
        "confident_agreement": round(float(agree[confident].float().mean()), 4),
        "macro_agreement": round(sum(per_class) / len(per_class), 4) if per_class else float("nan"),
        "class_coverage": round(len(per_class) / teacher_logits.shape[-1], 4),
    }


def evaluate_heldout(
    student: nn.Module, heldouts: list[HeldOut], placement: Placement, head: TaskHead | None = None
) -> dict[str, float | list[float]]:
    """Agreement with the teacher (as the head defines it), and for single-label heads its profile
    (`agreement_profile`) and both models' class balance, per set."""
    head = head or TaskHead()
    metrics: dict[str, float | list[float]] = {}
    for heldout in heldouts:
        logits = predict_logits(student, heldout.embeds, heldout.attention_mask, placement)
        metrics[f"{heldout.name}_agreement"] = round(head.agreement(logits, heldout.teacher_logits), 4)
        if head.kind != SINGLE_LABEL:
            continue
        metrics.update({f"{heldout.name}_{k}": v for k, v in agreement_profile(logits, heldout.teacher_logits).items()})
        metrics[f"{heldout.name}_student_balance"] = class_balance(logits)
        metrics[f"{heldout.name}_teacher_balance"] = class_balance(heldout.teacher_logits)
    return metrics


def eval_label_ids(labels: list[str], id2label: dict, source: str | Path, head: str = SINGLE_LABEL) -> list:
    """Map raw labels of an eval file to what the head predicts (`asdfd.core.heads.eval_targets`): class ids by label
    name first, then as integer ids; 0/1 rows for multi-label heads; numbers for score heads.

    Raises:
        DataError: a label that is neither a name in the model's id2label nor a valid id (or not a number).
    """
    names = [str(id2label[key]) for key in sorted(id2label, key=int)]
    return eval_targets(labels, names, head, source)


@torch.no_grad()
def evaluate_texts(
    model: nn.Module, tokenizer, texts: list[str], placement: Placement, *, max_length: int = 128, batch_size: int = 64
) -> Tensor:
    """Logits (N, C) float32 on the CPU for real texts or (text_a, text_b) pairs (information only: never used to
    train or select)."""
    was_training = model.training
    model.eval()
    config = model.config.to_dict()
    inputs = architecture_of(config).input_names(config)  # a tokenizer may return more than the model takes
    out = []
    for start in range(0, len(texts), batch_size):
        columns = tokenizer_columns(texts[start : start + batch_size])
        batch = tokenizer(*columns, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        batch = {key: value.to(placement.device) for key, value in batch.items() if key in inputs}
        with placement.autocast():
            out.append(model(**batch).logits.float().cpu())
    model.train(was_training)
    return torch.cat(out)


def eval_metrics(head: str, student_logits: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray) -> dict:
    """distill.json's eval figures (information only): `eval_<metric>` and `teacher_eval_<metric>` for the head's
    figures against the labels (single: accuracy; multi-label: micro_f1, macro_f1; score: pearson, spearman),
    `eval_agreement` (the head's agreement with the teacher) and, per head, exact_agreement (multi-label) or
    spearman_vs_teacher (score)."""
    student = task_quality(head, student_logits, teacher_logits, labels)
    teacher = task_quality(head, teacher_logits, teacher_logits, labels)
    metrics: dict[str, float | None] = {"eval_agreement": _rounded(student["agreement"])}
    for name in LABEL_METRICS[head]:
        metrics[f"eval_{name}"] = _rounded(student[name])
        metrics[f"teacher_eval_{name}"] = _rounded(teacher[name])
    for name in ("exact_agreement", "spearman_vs_teacher"):
        if name in student:
            metrics[f"eval_{name}"] = _rounded(student[name])
    for who, figures in (("eval", student), ("teacher_eval", teacher)):
        for name, why in figures.get("undefined", {}).items():
            metrics.setdefault("undefined", {})[f"{who}_{name}"] = why
    return metrics


def _rounded(value: float | None) -> float | None:
    """None stays None: an undefined figure (see `task_quality`'s "undefined")."""
    return None if value is None else round(value, 4)
