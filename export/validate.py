"""ONNX Runtime vs PyTorch on generated inputs, with a readable verdict (optimum's validate_model_outputs).

The inputs are a shape grid (batch sizes x lengths, each unpadded and padded) plus random-length padded
samples. fp32 graphs must match PyTorch logits within `atol`; int8/fp16 graphs are judged by argmax
agreement with the fp32 PyTorch model (and report the max softmax-probability difference).
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asdfd.export.calibration import TokenSpace, feeds_for, random_token_batch
from asdfd.export.config import ValidationConfig

__all__ = ["ValidationSet", "ValidationReport", "make_validation_set", "validate_graph", "measure_latency_ms",
           "make_session"]

logger = logging.getLogger(__name__)


@dataclass
class ValidationSet:
    """Generated batches and the PyTorch fp32 logits for each (computed once, reused for every variant)."""

    batches: list[tuple[np.ndarray, np.ndarray]]
    """(input_ids (B, L), attention_mask (B, L)) int64."""
    reference_logits: list[np.ndarray]
    """(B, num_labels) float32 per batch."""

    @property
    def num_samples(self) -> int:
        return sum(len(ids) for ids, _ in self.batches)


@dataclass(frozen=True)
class ValidationReport:
    variant: str
    precision: str
    """fp32, int8 or fp16: decides which criterion applies."""
    max_abs_diff: float
    max_prob_diff: float
    agreement: float
    """Fraction of samples whose argmax matches the fp32 PyTorch model."""
    num_samples: int
    atol: float
    min_agreement: float

    @property
    def passed(self) -> bool:
        if self.precision == "fp32":
            return self.max_abs_diff <= self.atol
        return self.agreement >= self.min_agreement

    def verdict(self) -> str:
        figures = (f"max |logit diff| {self.max_abs_diff:.2e}, max prob diff {self.max_prob_diff:.2e}, "
                   f"argmax agreement {100 * self.agreement:.2f}% on {self.num_samples} generated inputs")
        if self.precision == "fp32":
            rule = f"atol {self.atol:.0e}"
        else:
            rule = f"min agreement {100 * self.min_agreement:.1f}%"
        return f"{self.variant}: {'OK' if self.passed else 'FAILED'} ({figures}; {rule})"

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def make_validation_set(model: Any, space: TokenSpace, input_names: tuple[str, ...], config: ValidationConfig,
                        max_length: int) -> ValidationSet:
    """Build the generated inputs and run the PyTorch model on them once."""
    import torch

    rng = np.random.default_rng(config.seed)
    batches = []
    for batch_size in config.batch_sizes:
        for length in config.seq_lengths:
            for padded in (False, True):
                batches.append(random_token_batch(space, rng, batch_size, min(length, max_length), padded=padded))
    remaining = config.num_samples
    while remaining > 0:
        size = min(16, remaining)
        batches.append(random_token_batch(space, rng, size, int(rng.integers(3, max_length + 1)), padded=True))
        remaining -= size
    reference = []
    with torch.no_grad():
        for ids, mask in batches:
            feeds = {name: torch.from_numpy(value) for name, value in feeds_for(input_names, ids, mask).items()}
            reference.append(model(**feeds).logits.float().numpy())
    return ValidationSet(batches=batches, reference_logits=reference)


def make_session(path: Path, providers: list[str] | None = None, *, threads: int = 0) -> Any:
    """A session configured as the runtime's, so validation and timings see the graph users will run."""
    from asdfd.runtime.classifier import make_session as runtime_session

    return runtime_session(path, threads=threads or None, providers=providers)


def validate_graph(session: Any, validation: ValidationSet, input_names: tuple[str, ...], *, variant: str,
                   precision: str, config: ValidationConfig) -> ValidationReport:
    """Run `session` on the validation set and compare with the PyTorch logits."""
    max_abs, max_prob, agree, total = 0.0, 0.0, 0, 0
    for (ids, mask), expected in zip(validation.batches, validation.reference_logits):
        actual = session.run(["logits"], feeds_for(input_names, ids, mask))[0].astype(np.float32)
        max_abs = max(max_abs, float(np.abs(actual - expected).max()))
        max_prob = max(max_prob, float(np.abs(_softmax(actual) - _softmax(expected)).max()))
        agree += int((actual.argmax(-1) == expected.argmax(-1)).sum())
        total += len(ids)
    report = ValidationReport(variant=variant, precision=precision, max_abs_diff=max_abs, max_prob_diff=max_prob,
                              agreement=agree / total, num_samples=total, atol=config.atol,
                              min_agreement=config.min_agreement)
    (logger.info if report.passed else logger.warning)("validation %s", report.verdict())
    return report


def measure_latency_ms(session: Any, input_names: tuple[str, ...], space: TokenSpace, *, batch_size: int = 1,
                       seq_length: int = 32, runs: int = 20) -> float:
    """Median wall time (ms) of one `session.run` on a fixed generated batch, after 3 warm-up runs."""
    ids, mask = random_token_batch(space, np.random.default_rng(0), batch_size, seq_length, padded=False)
    feeds = feeds_for(input_names, ids, mask)
    for _ in range(3):
        session.run(["logits"], feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(["logits"], feeds)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
