"""The pool of guessed samples AS-DFD trains on (stage 1 fills it, stage 2 hardens it in place)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["PseudoPool"]


@dataclass
class PseudoPool:
    """Guessed samples kept for training: embeddings (N, L, d), attention mask (N, L), targets (N,), and the
    token ids each sample started from (N, L) (for the drift diagnostic).

    Samples are written in order, the oldest replaced first once full (`cursor`); stage 2 writes its
    harder versions back in place, so difficulty follows the student's progress.
    """

    embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    init_ids: torch.Tensor
    filled: int = 0
    cursor: int = 0

    @classmethod
    def empty(cls, size: int, length: int, hidden: int, device: torch.device) -> PseudoPool:
        return cls(
            embeds=torch.zeros(size, length, hidden, device=device),
            attention_mask=torch.zeros(size, length, dtype=torch.long, device=device),
            labels=torch.zeros(size, dtype=torch.long, device=device),
            init_ids=torch.zeros(size, length, dtype=torch.long, device=device),
        )

    @property
    def size(self) -> int:
        return self.embeds.shape[0]

    def add(
        self, embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, init_ids: torch.Tensor
    ) -> None:
        """Append a batch (B, l, d) with l <= L, replacing the oldest samples once the pool is full."""
        count, length = attention_mask.shape
        index = (torch.arange(count) + self.cursor) % self.size
        index = index.to(self.embeds.device)
        self.embeds[index] = 0
        self.attention_mask[index] = 0
        self.embeds[index, :length] = embeds.detach().to(self.embeds.dtype)
        self.attention_mask[index, :length] = attention_mask
        self.labels[index] = labels
        self.init_ids[index] = 0
        self.init_ids[index, :length] = init_ids
        self.cursor = (self.cursor + count) % self.size
        self.filled = min(self.size, self.filled + count)

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """Indices of `count` samples drawn with replacement from the filled part; (count,) int64 on CPU."""
        return torch.randint(self.filled, (count,), generator=generator)

    def get(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Samples trimmed to their longest row: (B, l, d), (B, l), (B,)."""
        index = index.to(self.embeds.device)
        mask = self.attention_mask[index]
        width = int(mask.sum(dim=1).max())
        return self.embeds[index, :width].clone(), mask[:, :width].clone(), self.labels[index].clone()

    def update(self, index: torch.Tensor, embeds: torch.Tensor) -> None:
        """Write back (harder) embeddings for samples `index`; embeds (B, l, d)."""
        index = index.to(self.embeds.device)
        self.embeds[index, : embeds.shape[1]] = embeds.detach().to(self.embeds.dtype)

    def state_dict(self) -> dict:
        return {
            "embeds": self.embeds.cpu(),
            "attention_mask": self.attention_mask.cpu(),
            "labels": self.labels.cpu(),
            "init_ids": self.init_ids.cpu(),
            "filled": self.filled,
            "cursor": self.cursor,
        }

    @classmethod
    def from_state_dict(cls, state: dict, device: torch.device) -> PseudoPool:
        return cls(
            embeds=state["embeds"].to(device),
            attention_mask=state["attention_mask"].to(device),
            labels=state["labels"].to(device),
            init_ids=state["init_ids"].to(device),
            filled=int(state["filled"]),
            cursor=int(state["cursor"]),
        )
