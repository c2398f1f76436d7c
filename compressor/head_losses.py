"""How distillation reads a teacher's outputs, per head (asdfd.core.heads): the KD loss, agreement, class coverage and
what teacher-guided selection ranks by. One object per head kind, the same methods on each; torch tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from asdfd.compressor.losses import kd_loss, multilabel_kd_loss, score_kd_loss
from asdfd.core.heads import DEFAULT_THRESHOLD, MULTI_LABEL, SCORE, SINGLE_LABEL
from asdfd.runtime.metrics import pearson

__all__ = ["TaskHead", "task_head"]


@dataclass(frozen=True)
class TaskHead:
    """The single-label (softmax) head; `MultiLabelHead` and `ScoreHead` override what differs."""

    kind: str = SINGLE_LABEL

    def kd(self, student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
        """The distillation loss, averaged over the batch; (B, C) each."""
        return kd_loss(student_logits, teacher_logits, temperature)

    def agreement(self, student_logits: Tensor, teacher_logits: Tensor) -> float:
        """How often the student decides as the teacher: same class (single), same decision per (text, label)
        (multi-label), Pearson correlation (score)."""
        return float((student_logits.argmax(-1) == teacher_logits.argmax(-1)).float().mean())

    def counts(self, logits: Tensor) -> Tensor:
        """(C,) int64: how many rows the model puts in each class (multi-label: has each label; score: all rows)."""
        return torch.bincount(logits.argmax(-1).cpu(), minlength=logits.shape[-1])

    def selection(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """(per-class scores (N, K), uncertainty (N,)) for teacher-guided selection: class coverage takes, for
        each column in turn, the row scoring highest; the most uncertain rows are kept too."""
        probs = logits.float().softmax(-1)
        return probs, -(probs * probs.clamp(min=1e-12).log()).sum(-1)


@dataclass(frozen=True)
class MultiLabelHead(TaskHead):
    kind: str = MULTI_LABEL
    threshold: float = DEFAULT_THRESHOLD

    def kd(self, student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
        return multilabel_kd_loss(student_logits, teacher_logits, temperature)

    def decisions(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits.float()) >= self.threshold

    def agreement(self, student_logits: Tensor, teacher_logits: Tensor) -> float:
        return float((self.decisions(student_logits) == self.decisions(teacher_logits)).float().mean())

    def counts(self, logits: Tensor) -> Tensor:
        return self.decisions(logits).long().sum(0).cpu()

    def selection(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        probs = torch.sigmoid(logits.float())
        p = probs.clamp(1e-6, 1 - 1e-6)
        return probs, -(p * p.log() + (1 - p) * (1 - p).log()).sum(-1)  # summed per-label binary entropy


@dataclass(frozen=True)
class ScoreHead(TaskHead):
    kind: str = SCORE

    def kd(self, student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
        return score_kd_loss(student_logits, teacher_logits)  # a score has no distribution to soften

    def agreement(self, student_logits: Tensor, teacher_logits: Tensor) -> float:
        return pearson(student_logits.detach().float().cpu().numpy(), teacher_logits.detach().float().cpu().numpy())

    def counts(self, logits: Tensor) -> Tensor:
        return torch.tensor([len(logits)], dtype=torch.long)

    def selection(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        score = logits.float()[:, 0]
        z = (score - score.mean()) / score.std().clamp(min=1e-6) if len(score) > 1 else score * 0
        # Coverage alternates the highest and the lowest scores; "uncertain" rows are those near the middle.
        return torch.stack([z, -z], dim=1), -z.abs()


def task_head(kind: str, threshold: float = DEFAULT_THRESHOLD) -> TaskHead:
    """The head object of an `asdfd.core.heads` kind."""
    if kind == MULTI_LABEL:
        return MultiLabelHead(threshold=threshold)
    return ScoreHead() if kind == SCORE else TaskHead()
