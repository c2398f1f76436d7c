"""Adam on the free rows of pseudo embeddings: the one optimiser loop of stage 1 (guessing) and stage 2 (max step).

Only the free positions (between [CLS] and [SEP]) move; after each step their rows can be rescaled to target
norms, so guessed rows stay on the scale of real token embeddings.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["Objective", "adam_on_free_rows"]

Objective = Callable[[Tensor], tuple[Tensor | None, dict[str, float], Tensor | None]]
"""E (B, L, d) -> (scalar loss to minimise or None to stop, stats, (B,) bool rows still moving or None = all)."""


def adam_on_free_rows(
    embeds: Tensor, free: Tensor, objective: Objective, *, steps: int, lr: float, target_norms: Tensor | None = None
) -> tuple[Tensor, dict[str, float], int]:
    """Minimise `objective(E)` over the free rows of E with Adam for at most `steps` steps.

    Args:
        embeds: (B, L, d) starting points (not modified in place).
        free: (B, L) bool, rows allowed to move.
        objective: see `Objective`; gradients must reach only E.
        target_norms: (B, L) row norms restored on the free rows after each step; None = no rescaling.
    Returns:
        The optimised embeddings (B, L, d), detached; the stats of the last step; the steps taken.
    """
    embeds = embeds.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([embeds], lr=lr)
    keep_free = free.unsqueeze(-1)
    stats: dict[str, float] = {}
    taken = 0
    for _ in range(steps):
        loss, stats, active = objective(embeds)
        if loss is None:
            break
        (grad,) = torch.autograd.grad(loss, embeds)
        embeds.grad = grad * (keep_free if active is None else keep_free & active[:, None, None])
        optimizer.step()
        taken += 1
        if target_norms is not None:
            with torch.no_grad():
                scale = target_norms / embeds.norm(dim=-1).clamp(min=1e-6)
                embeds.mul_(torch.where(free, scale, torch.ones_like(scale)).unsqueeze(-1))
    return embeds.detach(), stats, taken
