"""Stage 2's max step: make pseudo embeddings harder for the student while the teacher stays confident.

    L_E = CE(T(E), y) − λ_adv · L_ss(S, E) − β · D(T(E), S(E))

(docs/method.md, section 'Stage 2: adversarial self-supervised distillation').

E is updated by Adam on L_E (only free positions move); the student and teacher weights are untouched
(gradients are taken with respect to E alone). The caller writes the result back into the pool, so the
difficulty of the samples follows the student's progress.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from asdfd.compressor.asdfd_method.free_rows import adam_on_free_rows

__all__ = ["harden_embeddings"]


def harden_embeddings(
    embeds: Tensor,
    free: Tensor,
    objective: Callable[[Tensor], tuple[Tensor, dict[str, float]]],
    *,
    steps: int,
    lr: float,
    target_norms: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Minimise `objective(E)` over the free rows of E with Adam (`adam_on_free_rows`).

    Args:
        embeds: (B, L, d) pseudo embeddings (not modified in place).
        free: (B, L) bool, rows allowed to move.
        objective: E -> (scalar L_E to minimise, stats); gradients must reach only E.
        target_norms: (B, L) row norms to restore after each step; None = no renormalisation.
    Returns:
        The harder embeddings (B, L, d), detached, and the stats of the last step.
    """
    harder, stats, _ = adam_on_free_rows(
        embeds, free, lambda e: (*objective(e), None), steps=steps, lr=lr, target_norms=target_norms
    )
    return harder, stats
