"""Losses are checked by their properties: zero when matched, positive otherwise, gradient to the student only."""

from __future__ import annotations

import torch

from asdfd.compressor.losses import disagreement_loss, guess_loss, hidden_mse_loss, kd_loss


def test_kd_loss_properties():
    teacher = torch.randn(4, 3)
    assert float(kd_loss(teacher.clone(), teacher, 2.0)) < 1e-6
    student = torch.randn(4, 3, requires_grad=True)
    teacher.requires_grad_(True)
    loss = kd_loss(student, teacher, 2.0)
    assert float(loss.detach()) > 0
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0 and teacher.grad is None


def test_hidden_mse_ignores_padding_and_guess_loss_respects_active():
    student, teacher = torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    teacher[:, 2] = 5.0  # only a padded position differs
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    assert float(hidden_mse_loss([student], [teacher], mask)) == 0.0
    logits, targets = torch.randn(3, 2), torch.tensor([0, 1, 0])
    assert float(guess_loss(logits, targets, active=torch.zeros(3, dtype=torch.bool))) == 0.0
    assert float(guess_loss(logits, targets)) > 0
    assert float(disagreement_loss(logits, logits)) == 0.0
