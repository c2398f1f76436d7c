"""Distillation and synthesis losses: pure functions, shapes in the docstrings, no state, no devices."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "kd_loss",
    "multilabel_kd_loss",
    "score_kd_loss",
    "hidden_mse_loss",
    "guess_loss",
    "disagreement_loss",
    "masked_token_loss",
    "nearest_token_distance",
]


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """τ² · KL(softmax(teacher/τ) ‖ softmax(student/τ)) averaged over the batch (Hinton et al. 2015).

    Args:
        student_logits: (B, C).
        teacher_logits: (B, C); treated as a constant.
    """
    log_p_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * temperature**2


def multilabel_kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """τ² · Σ_labels KL(Bernoulli(σ(teacher/τ)) ‖ Bernoulli(σ(student/τ))), averaged over the batch: a multi-label
    head's per-label sigmoid probabilities as soft targets (0 when they match).

    Args:
        student_logits: (B, C).
        teacher_logits: (B, C); treated as a constant.
    """
    student, teacher = student_logits.float() / temperature, teacher_logits.detach().float() / temperature
    target = torch.sigmoid(teacher)
    cross = F.binary_cross_entropy_with_logits(student, target, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(teacher, target, reduction="none")
    return (cross - entropy).sum(-1).mean() * temperature**2


def score_kd_loss(student_scores: Tensor, teacher_scores: Tensor) -> Tensor:
    """Mean squared error between the student's and the teacher's scores (regression / reranker heads); (B, 1)."""
    return F.mse_loss(student_scores.float(), teacher_scores.detach().float())


def hidden_mse_loss(student_hidden: list[Tensor], teacher_hidden: list[Tensor], attention_mask: Tensor) -> Tensor:
    """Mean squared error between paired hidden states over attended positions, averaged over pairs.

    Args:
        student_hidden: list of (B, L, d), student layer i.
        teacher_hidden: list of (B, L, d), the teacher layer student layer i was copied from; constant.
        attention_mask: (B, L), 1 where attended.
    """
    weights = attention_mask.unsqueeze(-1).float()
    denominator = weights.sum() * student_hidden[0].shape[-1]
    total = student_hidden[0].new_zeros((), dtype=torch.float32)
    for student, teacher in zip(student_hidden, teacher_hidden, strict=True):
        total = total + ((student.float() - teacher.detach().float()) ** 2 * weights).sum() / denominator
    return total / len(student_hidden)


def guess_loss(
    teacher_logits: Tensor, targets: Tensor, *, label_smoothing: float = 0.0, active: Tensor | None = None
) -> Tensor:
    """Stage-1 objective CE(T(E), y), summed over active samples and divided by the batch size.

    Args:
        teacher_logits: (B, C), with grad towards E.
        targets: (B,) int64 labels.
        active: (B,) bool; samples that already reached the stop confidence contribute nothing.
    """
    per_sample = F.cross_entropy(teacher_logits.float(), targets, reduction="none", label_smoothing=label_smoothing)
    if active is not None:
        per_sample = per_sample * active.float()
    return per_sample.sum() / len(targets)


def disagreement_loss(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """DFAD-style disagreement: mean L1 distance between the two class distributions; (B, C) each."""
    return (F.softmax(student_logits.float(), dim=-1) - F.softmax(teacher_logits.float(), dim=-1)).abs().sum(-1).mean()


def masked_token_loss(token_logits: Tensor, token_targets: Tensor) -> Tensor:
    """Cross-entropy of the self-supervised head over the vocabulary.

    Args:
        token_logits: (N, V) for the N masked positions.
        token_targets: (N,) the token each masked row was nearest to before masking.
    """
    if token_targets.numel() == 0:
        return token_logits.sum() * 0.0
    return F.cross_entropy(token_logits.float(), token_targets)


def nearest_token_distance(rows: Tensor, vocabulary: Tensor) -> Tensor:
    """Mean squared L2 distance from each row to its nearest vocabulary embedding.

    Args:
        rows: (N, d) with grad.
        vocabulary: (V, d), constant.
    """
    with torch.no_grad():
        nearest = (rows @ vocabulary.T * 2 - (vocabulary**2).sum(-1)).argmax(-1)
    return ((rows - vocabulary[nearest]) ** 2).sum(-1).mean()
