"""Improvements beyond the paper that are not yet proven (torchao's `prototype/` corner).

Each is behind a named switch in the config, off unless measurements in docs/distill_results.md say
otherwise. Proven ones graduate into the module of the concept they belong to.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asdfd.compressor.synthesis.tokens import free_positions, nearest_token_ids

__all__ = ["snap_to_nearest_tokens"]


@torch.no_grad()
def snap_to_nearest_tokens(
    embeds: Tensor, attention_mask: Tensor, vocabulary: Tensor, candidates: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Replace each free row of guessed embeddings by its nearest vocabulary embedding (`guess.snap_to_tokens`).

    The student then trains on inputs that real token ids can produce (docs/method.md, section 'Where we may go
    beyond the paper (measure first)': "Keep `E` near the token manifold (... periodic snapping ...)"); the teacher
    relabels the snapped sample, so no target is wrong.

    Args:
        embeds: (B, L, d). attention_mask: (B, L). vocabulary: (V, d). candidates: (K,) allowed ids.
    Returns:
        snapped embeddings (B, L, d) and the nearest token ids (B, L) (valid at free positions).
    """
    free = free_positions(attention_mask)
    ids = nearest_token_ids(embeds, vocabulary, candidates)
    snapped = torch.where(free.unsqueeze(-1), vocabulary[ids].to(embeds.dtype), embeds)
    return snapped, ids
