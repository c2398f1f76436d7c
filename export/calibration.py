"""Inputs generated without data: for validation, and for static int8 calibration (no dataset).

Three calibration sources (`CalibrationConfig.source`):
- random: uniform non-special tokens between [CLS] and [SEP], random lengths, padded.
- teacher-guided: `oversample` random candidates per kept sample, scored by the fp32 model being
  exported; the most confident ones are kept, balanced over predicted classes. Real sentences put a
  trained classifier in its confident regime, whose activation ranges uniform noise misses. [GUESS]
- guessed: the compressor's stage-1 guessed embeddings decoded to their nearest tokens, passed in by the
  caller (`asdfd.compressor.decode_pseudo_samples`; the exporter never imports the compressor).

Memory stays bounded: batches are produced on demand from (seed, batch index), and `FeedReader`
exposes `set_range`, so onnxruntime's calibrator collects and merges activation ranges one chunk
of `chunk_batches` batches at a time (its `CalibStridedMinMax` path), whatever `num_samples` is.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from asdfd.core.errors import ConfigError
from asdfd.core.heads import SCORE, SINGLE_LABEL
from asdfd.core.special_tokens import SpecialTokens
from asdfd.export.export_config import CalibrationConfig
from asdfd.runtime.metrics import probabilities

__all__ = [
    "random_token_batch",
    "CalibrationSource",
    "RandomTokens",
    "TeacherGuidedTokens",
    "GuessedTokens",
    "FeedReader",
    "make_calibration_source",
    "select_confident",
]

logger = logging.getLogger(__name__)

Batch = tuple[np.ndarray, np.ndarray]
"""(input_ids int64 (B, L), attention_mask int64 (B, L))."""

TOP_OF_VOCABULARY = 64
"""`random_token_batch` puts one of the highest this many ordinary ids in every row (and the highest in the first)."""


def random_token_batch(
    space: SpecialTokens,
    rng: np.random.Generator,
    batch_size: int,
    max_len: int,
    *,
    padded: bool = True,
    min_len: int = 3,
) -> Batch:
    """[CLS] w1..wn [SEP] [PAD]...; lengths uniform in [min_len, max_len] when padded, else all max_len.

    Tokens are uniform over the ordinary ids, except one per row drawn from the top `TOP_OF_VOCABULARY` ids and the
    first token of the first row, the highest ordinary id: validation always feeds the end of the embedding table.

    Returns:
        input_ids (batch_size, max_len) int64 and attention_mask (batch_size, max_len) int64.
    """
    max_len = max(max_len, 2)
    ordinary = space.ordinary_ids()
    lengths = (
        rng.integers(min(min_len, max_len), max_len + 1, size=batch_size) if padded else np.full(batch_size, max_len)
    )
    if padded:
        lengths[rng.integers(batch_size)] = max_len  # the batch keeps its full width
    body = rng.choice(ordinary, size=(batch_size, max_len))
    # Uniform draws from a large vocabulary rarely reach its last ids, where an embedding table shorter than its
    # tokenizer, or rows broken only at the end, would show: one token per row from the top of the vocabulary, and
    # the highest ordinary id itself first in the first row. (Single texts read body column j at position j, pairs
    # read their first text from column 0.)
    top = ordinary[-TOP_OF_VOCABULARY:]
    body[np.arange(batch_size), rng.integers(1, np.maximum(lengths - 1, 2))] = rng.choice(top, size=batch_size)
    body[0, :2] = ordinary[-1]
    return space.frame(body, lengths)


class CalibrationSource(ABC):
    """Produces calibration batch `index` on demand (deterministic), so nothing is held in memory.

    Example:
        >>> class Fixed(CalibrationSource):
        ...     name = "fixed"
        ...     def batch(self, index): return ids[index], mask[index]
    """

    name: str = "?"

    def __init__(self, num_batches: int) -> None:
        self.num_batches = num_batches

    @abstractmethod
    def batch(self, index: int) -> Batch:
        """Batch `index` in [0, num_batches)."""


class RandomTokens(CalibrationSource):
    name = "random"

    def __init__(self, space: SpecialTokens, config: CalibrationConfig, num_batches: int, seq_length: int) -> None:
        super().__init__(num_batches)
        self.space, self.config, self.seq_length = space, config, seq_length

    def batch(self, index: int) -> Batch:
        rng = np.random.default_rng([self.config.seed, index])
        return random_token_batch(self.space, rng, self.config.batch_size, self.seq_length)


class TeacherGuidedTokens(RandomTokens):
    """Random candidates filtered by the fp32 graph's confidence, balanced over its predicted classes."""

    name = "teacher-guided"

    def __init__(
        self,
        space: SpecialTokens,
        config: CalibrationConfig,
        num_batches: int,
        seq_length: int,
        session: Any,
        input_names: tuple[str, ...],
    ) -> None:
        super().__init__(space, config, num_batches, seq_length)
        self.session, self.input_names = session, input_names

    def batch(self, index: int) -> Batch:
        rng = np.random.default_rng([self.config.seed, index, 1])
        size = self.config.batch_size
        ids, mask = random_token_batch(self.space, rng, size * self.config.oversample, self.seq_length)
        logits = self.session.run(["logits"], feeds_for(self.input_names, ids, mask, self.space))[0]
        chosen = select_confident(logits, size)
        # Every batch keeps the full width: histogram calibrators stack batches, which needs equal shapes.
        return ids[chosen], mask[chosen]


def select_confident(logits: np.ndarray, size: int, head: str = SINGLE_LABEL) -> np.ndarray:
    """Indices of `size` rows of `logits` (N, num_labels), N >= size: round-robin over the predicted (most
    probable) classes, the most confident (largest top-1 probability) first, so every class the model predicts is
    represented. A score head (one output) gets rows spread evenly over its range of scores instead."""
    if head == SCORE or logits.shape[1] == 1:
        order = np.argsort(logits[:, 0], kind="stable")
        return order[np.linspace(0, len(order) - 1, min(size, len(order))).round().astype(np.int64)]
    confidence = probabilities(logits, head).max(axis=1)
    predicted = logits.argmax(axis=1)
    queues = [
        list(np.flatnonzero(predicted == label)[np.argsort(-confidence[predicted == label])])
        for label in range(logits.shape[1])
    ]
    chosen: list[int] = []
    while len(chosen) < min(size, len(logits)):
        for queue in queues:
            if queue and len(chosen) < size:
                chosen.append(int(queue.pop(0)))
    return np.asarray(chosen, dtype=np.int64)


class GuessedTokens(CalibrationSource):
    """Given token sequences (the compressor's decoded pseudo-samples), sliced into batches.

    The exporter does not import the compressor (they are siblings in the package graph): the caller
    passes the samples, e.g. `asdfd.compressor.decode_pseudo_samples(model_dir, n)`; `compress export
    --calibration guessed` and `compress run` do.
    """

    name = "guessed"

    def __init__(self, samples: tuple[np.ndarray, np.ndarray], config: CalibrationConfig, num_batches: int) -> None:
        super().__init__(num_batches)
        self.input_ids = np.asarray(samples[0], dtype=np.int64)
        self.attention_mask = np.asarray(samples[1], dtype=np.int64)
        if self.input_ids.shape != self.attention_mask.shape or self.input_ids.ndim != 2 or len(self.input_ids) == 0:
            raise ConfigError(
                f"guessed calibration samples have shapes {self.input_ids.shape} and "
                f"{self.attention_mask.shape}: expected two equal (N, L) arrays, N >= 1"
            )
        self.batch_size = config.batch_size

    def batch(self, index: int) -> Batch:
        start = (index * self.batch_size) % len(self.input_ids)
        rows = np.arange(start, start + self.batch_size) % len(self.input_ids)
        return self.input_ids[rows], self.attention_mask[rows]


def feeds_for(
    input_names: tuple[str, ...],
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    space: SpecialTokens | None = None,
) -> dict[str, np.ndarray]:
    """The session feed for a batch; token_type_ids are 1 on a pair's second text (after the first separator of
    `space`), else 0 (all zeros for single texts, or when `space` is None)."""
    feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
    if "token_type_ids" in input_names:
        feeds["token_type_ids"] = (
            space.segment_ids(input_ids, attention_mask) if space is not None else np.zeros_like(input_ids)
        )
    return {name: feeds[name] for name in input_names}


class FeedReader(CalibrationDataReader):
    """onnxruntime `CalibrationDataReader` over a source; `set_range` lets ORT calibrate chunk by chunk."""

    def __init__(self, source: CalibrationSource, input_names: tuple[str, ...], *, progress: Any = None) -> None:
        self.source, self.input_names, self.progress = source, input_names, progress
        self.start, self.end = 0, source.num_batches
        self.max_batches_per_range = 0
        """Largest number of batches one collection pass saw (what bounds calibration memory)."""

    def __len__(self) -> int:
        return self.source.num_batches

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end = start_index, min(end_index, self.source.num_batches)
        self.max_batches_per_range = max(self.max_batches_per_range, self.end - self.start)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.start >= self.end:
            return None
        ids, mask = self.source.batch(self.start)
        self.start += 1
        if self.progress is not None:
            self.progress.update(1)
        return feeds_for(self.input_names, ids, mask, getattr(self.source, "space", None))


def num_calibration_batches(config: CalibrationConfig) -> int:
    """num_samples in batches, rounded up to whole chunks (ORT's strided calibration needs that)."""
    batches = math.ceil(config.num_samples / config.batch_size)
    return math.ceil(batches / config.chunk_batches) * config.chunk_batches


def make_calibration_source(
    config: CalibrationConfig,
    *,
    space: SpecialTokens,
    max_length: int,
    fp32_session: Any,
    input_names: tuple[str, ...],
    samples: tuple[np.ndarray, np.ndarray] | None = None,
) -> CalibrationSource:
    """The configured source, producing `num_calibration_batches(config)` batches.

    Args:
        samples: (input_ids, attention_mask) for the "guessed" source.
    """
    num_batches = num_calibration_batches(config)
    seq_length = min(config.seq_length, max_length)
    if config.source == "random":
        return RandomTokens(space, config, num_batches, seq_length)
    if config.source == "teacher-guided":
        return TeacherGuidedTokens(space, config, num_batches, seq_length, fp32_session, input_names)
    if samples is None:
        raise ConfigError(
            "calibration source 'guessed' needs the compressor's decoded samples: pass "
            "calibration_samples=asdfd.compressor.decode_pseudo_samples(...) to export_onnx (compress "
            "export does), or use --calibration teacher-guided"
        )
    return GuessedTokens(samples, config, num_batches)
