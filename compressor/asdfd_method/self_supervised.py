"""Stage 2's self-supervised module: masked-embedding prediction, which measures how well the student
handles a pseudo sample (AS-DFD: "a self-supervised module to quantify the student's ability").

[GUESS] the pretext task: ~15% of the free positions are replaced by the teacher's [MASK] embedding and
a small head on the student's last hidden states predicts, over the vocabulary, the token each masked
row was nearest to, by dot product with the frozen word-embedding matrix (BERT's MLM head, tied).
[GUESS] to save a forward pass, the teacher and the student both read the masked sample, so the same
student forward serves the KD loss and the pretext loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from asdfd.compressor.losses import masked_token_loss
from asdfd.compressor.synthesis.tokens import nearest_token_ids

__all__ = ["MaskedEmbeddingHead", "mask_embeddings", "self_supervised_loss"]


class MaskedEmbeddingHead(nn.Module):
    """Transform + LayerNorm, then logits over the vocabulary tied to the frozen word embeddings.

    Example:
        >>> head = MaskedEmbeddingHead(hidden_size=384, vocab_size=30522)
        >>> head(torch.zeros(5, 384), word_embeddings).shape      # word_embeddings: (30522, 384)
        torch.Size([5, 30522])
    """

    def __init__(self, hidden_size: int, vocab_size: int, layer_norm_eps: float = 1e-12) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.activation = nn.GELU()
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: Tensor, word_embeddings: Tensor) -> Tensor:
        """hidden (N, d), word_embeddings (V, d) -> token logits (N, V)."""
        transformed = self.norm(self.activation(self.dense(hidden.float())))
        return transformed @ word_embeddings.detach().float().T + self.bias


def mask_embeddings(
    embeds: Tensor,
    free: Tensor,
    mask_embedding: Tensor,
    fraction: float,
    generator: torch.Generator,
    vocabulary: Tensor,
    candidates: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Replace a random `fraction` of the free positions (at least one per sample) with the [MASK] embedding.

    Args:
        embeds: (B, L, d), may carry grad (the adversarial step differentiates through the unmasked rows).
        free: (B, L) bool, positions that may be masked.
        mask_embedding: (d,) the teacher's [MASK] word embedding.
        vocabulary: (V, d) to find each masked row's nearest token (the target), among `candidates` (K,).
    Returns:
        masked embeds (B, L, d), masked positions (B, L) bool, targets (N,) for the N masked positions.
    """
    scores = torch.rand(free.shape, generator=generator).to(free.device)
    scores = torch.where(free, scores, torch.full_like(scores, 2.0))
    counts = (free.sum(1).float() * fraction).ceil().clamp(min=1).long()
    ranks = scores.argsort(dim=1).argsort(dim=1)
    masked = (ranks < counts[:, None]) & free
    targets = nearest_token_ids(embeds.detach()[masked], vocabulary, candidates)
    out = torch.where(masked.unsqueeze(-1), mask_embedding.to(embeds.dtype).expand_as(embeds), embeds)
    return out, masked, targets


def self_supervised_loss(
    head: MaskedEmbeddingHead, student_last_hidden: Tensor, masked: Tensor, targets: Tensor, vocabulary: Tensor
) -> Tensor:
    """L_ss: cross-entropy of the head's token prediction at the masked positions.

    Args:
        student_last_hidden: (B, L, d) the student's last hidden states on the masked sample.
        masked: (B, L) bool. targets: (N,) int64. vocabulary: (V, d).
    """
    return masked_token_loss(head(student_last_hidden[masked], vocabulary), targets)
