"""ONNX Runtime vs PyTorch on generated (and, when given, real) inputs, with a readable verdict.

Three kinds of inputs, each judged on its own (optimum's validate_model_outputs, extended):
- random: a shape grid (batch sizes x lengths, each unpadded and padded) plus random-length padded samples.
  fp32 graphs must match PyTorch logits within `atol` on every input.
- confident: random candidates on which the fp32 model is most decided, balanced over its predicted classes.
  A quantized graph is judged by argmax agreement here: on random tokens a many-class model sits near its
  decision boundaries, where int8 noise flips the argmax without saying anything about real text.
- real: texts of an eval file (`ValidationConfig.eval_file`); when given, they decide instead.

The random-input agreement is reported beside it, with a floor that loosens with the number of classes
(see `random_agreement_floor`), so a graph that is broken everywhere still fails.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asdfd.core.data import tokenizer_columns
from asdfd.core.errors import NonFiniteError
from asdfd.core.heads import MULTI_LABEL, SCORE, SINGLE_LABEL, head_of
from asdfd.core.special_tokens import SpecialTokens
from asdfd.export.calibration import feeds_for, random_token_batch, select_confident
from asdfd.export.export_config import ValidationConfig
from asdfd.runtime.metrics import probabilities, task_quality

__all__ = [
    "ValidationSet",
    "ValidationReport",
    "make_validation_set",
    "validate_graph",
    "measure_latency_ms",
    "make_session",
    "random_agreement_floor",
    "INPUT_KINDS",
]

logger = logging.getLogger(__name__)

INPUT_KINDS = ("random", "confident", "real")


@dataclass
class ValidationSet:
    """Batches and the PyTorch fp32 logits for each (computed once, reused for every variant)."""

    batches: list[tuple[np.ndarray, np.ndarray]]
    """(input_ids (B, L), attention_mask (B, L)) int64."""
    reference_logits: list[np.ndarray]
    """(B, num_labels) float32 per batch."""
    kinds: list[str]
    """Per batch: one of INPUT_KINDS."""
    space: SpecialTokens | None = None
    """The special tokens the batches were framed with (segment ids of pairs are read from them)."""
    head: str = SINGLE_LABEL
    """What the outputs are (asdfd.core.heads): decides what "agreement" means."""

    @property
    def num_samples(self) -> int:
        return sum(len(ids) for ids, _ in self.batches)

    @property
    def num_classes(self) -> int:
        """Outcomes per decision: the classes of a softmax head; 2 per label (multi-label) or for a score's
        correlation (the random-input floor is that of a binary decision)."""
        return int(self.reference_logits[0].shape[1]) if self.head == SINGLE_LABEL else 2


_AGREEMENT_NAME = {SINGLE_LABEL: "argmax agreement", MULTI_LABEL: "per-label agreement", SCORE: "Pearson r"}


def random_agreement_floor(min_agreement: float, num_classes: int) -> float:
    """Lowest argmax agreement on random inputs a quantized graph may have: `min_agreement` for 2 classes,
    the allowed disagreement growing with log2(num_classes) (each extra class adds decision boundaries near
    random inputs). 14 classes at min_agreement 0.9: 0.62; a constant-output graph still fails."""
    allowed = (1.0 - min_agreement) * math.log2(max(num_classes, 2))
    return max(0.0, 1.0 - allowed)


@dataclass(frozen=True)
class ValidationReport:
    variant: str
    precision: str
    """fp32, int8 or fp16: decides which criterion applies."""
    max_abs_diff: float
    max_prob_diff: float
    agreement: float
    """Agreement with the fp32 PyTorch model on the random inputs: same argmax (single-label), same decision per
    label (multi-label) or Pearson correlation (score)."""
    num_samples: int
    """Random inputs."""
    atol: float
    min_agreement: float
    """Required agreement on the inputs that decide (real texts when given, else confident ones)."""
    confident_agreement: float | None = None
    num_confident: int = 0
    real_agreement: float | None = None
    num_real: int = 0
    num_classes: int = 2
    head: str = SINGLE_LABEL

    @property
    def decided_by(self) -> str:
        """Which inputs the quantized-graph criterion reads: "real", "confident" or "random"."""
        if self.num_real:
            return "real"
        return "confident" if self.num_confident else "random"

    @property
    def primary_agreement(self) -> float:
        """Agreement on the inputs that decide (see `decided_by`)."""
        return {"real": self.real_agreement, "confident": self.confident_agreement, "random": self.agreement}[
            self.decided_by
        ]  # type: ignore[return-value]

    @property
    def min_random_agreement(self) -> float:
        return random_agreement_floor(self.min_agreement, self.num_classes)

    @property
    def passed(self) -> bool:
        if self.precision == "fp32":
            return self.max_abs_diff <= self.atol
        return self.primary_agreement >= self.min_agreement and self.agreement >= self.min_random_agreement

    def verdict(self) -> str:
        parts = [f"max |logit diff| {self.max_abs_diff:.2e}"]
        if self.head != SCORE:
            parts.append(f"max prob diff {self.max_prob_diff:.2e}")
        if self.num_real:
            parts.append(f"{_AGREEMENT_NAME[self.head]} {100 * self.real_agreement:.2f}% on {self.num_real} real texts")
        if self.num_confident:
            parts.append(f"{100 * self.confident_agreement:.2f}% on {self.num_confident} confident generated inputs")
        parts.append(f"{100 * self.agreement:.2f}% on {self.num_samples} random inputs")
        if self.precision == "fp32":
            rule = f"atol {self.atol:.0e}"
        else:
            rule = (
                f"min agreement {100 * self.min_agreement:.1f}% on {self.decided_by} inputs, "
                f"{100 * self.min_random_agreement:.1f}% on random inputs for {self.num_classes} classes"
            )
        return f"{self.variant}: {'OK' if self.passed else 'FAILED'} ({', '.join(parts)}; {rule})"

    def to_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "passed": self.passed,
            "decided_by": self.decided_by,
            "primary_agreement": self.primary_agreement,
            "min_random_agreement": self.min_random_agreement,
        }


def _reference_logits(
    model: Any, input_names: tuple[str, ...], batch: tuple[np.ndarray, np.ndarray], space: SpecialTokens
) -> np.ndarray:
    import torch

    feeds = {name: torch.from_numpy(value) for name, value in feeds_for(input_names, *batch, space).items()}
    with torch.inference_mode():
        return model(**feeds).logits.float().numpy()


def _real_batches(tokenizer: Any, texts: list, max_length: int, batch_size: int = 16):
    """Tokenized real texts, or (text_a, text_b) pairs with the tokenizer's own pair template."""
    for start in range(0, len(texts), batch_size):
        columns = tokenizer_columns(texts[start : start + batch_size])
        encoded = tokenizer(*columns, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        yield encoded["input_ids"].astype(np.int64), encoded["attention_mask"].astype(np.int64)


def make_validation_set(
    model: Any,
    space: SpecialTokens,
    input_names: tuple[str, ...],
    config: ValidationConfig,
    max_length: int,
    *,
    tokenizer: Any = None,
    real_texts: list[str] | None = None,
) -> ValidationSet:
    """Build the inputs (random, confident, and real when `real_texts`) and run the PyTorch model once.

    Args:
        tokenizer: the model's transformers tokenizer; needed for `real_texts` only.
        real_texts: texts the user supplied (an eval file); None or empty: generated inputs only.
    """
    rng = np.random.default_rng(config.seed)
    head = head_of(model.config)
    batches: list[tuple[np.ndarray, np.ndarray]] = []
    for batch_size in config.batch_sizes:
        for length in config.seq_lengths:
            for padded in (False, True):
                batches.append(random_token_batch(space, rng, batch_size, min(length, max_length), padded=padded))
    remaining = config.num_samples
    while remaining > 0:
        size = min(16, remaining)
        batches.append(random_token_batch(space, rng, size, int(rng.integers(3, max_length + 1)), padded=True))
        remaining -= size
    reference = [_reference_logits(model, input_names, batch, space) for batch in batches]
    kinds = ["random"] * len(batches)

    # Confident inputs: the most decided of `confident_oversample` candidates per kept one, class-balanced.
    remaining = config.confident_samples
    while remaining > 0:
        size = min(16, remaining)
        candidates = random_token_batch(
            space, rng, size * config.confident_oversample, int(rng.integers(3, min(max_length, 64) + 1)), padded=True
        )
        logits = _reference_logits(model, input_names, candidates, space)
        chosen = select_confident(logits, size, head)
        batches.append((candidates[0][chosen], candidates[1][chosen]))
        reference.append(logits[chosen])
        kinds.append("confident")
        remaining -= size

    for batch in _real_batches(tokenizer, real_texts or [], max_length):
        batches.append(batch)
        reference.append(_reference_logits(model, input_names, batch, space))
        kinds.append("real")
    return ValidationSet(batches=batches, reference_logits=reference, kinds=kinds, space=space, head=head)


def make_session(path: Path, providers: list[str] | None = None, *, threads: int = 0) -> Any:
    """A session configured as the runtime's, so validation and timings see the graph users will run."""
    from asdfd.runtime.classifier import make_session as runtime_session

    return runtime_session(path, threads=threads or None, providers=providers)


def validate_graph(
    session: Any,
    validation: ValidationSet,
    input_names: tuple[str, ...],
    *,
    variant: str,
    precision: str,
    config: ValidationConfig,
) -> ValidationReport:
    """Run `session` on the validation set and compare with the PyTorch logits, per kind of input."""
    max_abs, max_prob = 0.0, 0.0
    outputs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {kind: [] for kind in INPUT_KINDS}
    for (ids, mask), expected, kind in zip(validation.batches, validation.reference_logits, validation.kinds):
        feeds = feeds_for(input_names, ids, mask, validation.space)
        actual = session.run(["logits"], feeds)[0].astype(np.float32)
        if not np.isfinite(expected).all():
            raise NonFiniteError(
                f"{variant}: the PyTorch model outputs NaN/inf on generated inputs: the model is broken, not its export"
            )
        if not np.isfinite(actual).all():  # NaN compares False against atol: it must fail, not pass as a match
            actual = np.where(np.isfinite(actual), actual, np.float32(np.inf))
        max_abs = max(max_abs, float(np.abs(actual - expected).max()))
        if validation.head != SCORE:
            difference = probabilities(actual, validation.head) - probabilities(expected, validation.head)
            max_prob = max(max_prob, float(np.abs(difference).max()))
        outputs[kind].append((actual, expected))
    total = {kind: sum(len(actual) for actual, _ in outputs[kind]) for kind in INPUT_KINDS}

    def share(kind: str) -> float | None:
        if not total[kind]:
            return None
        actual, expected = (np.concatenate(arrays) for arrays in zip(*outputs[kind]))
        if not np.isfinite(actual).all():
            return 0.0  # a graph that outputs NaN/inf agrees with nothing
        value = task_quality(validation.head, actual, expected)["agreement"]
        return 0.0 if value is None else value  # a constant score cannot be called correlated

    report = ValidationReport(
        variant=variant,
        precision=precision,
        max_abs_diff=max_abs,
        max_prob_diff=max_prob,
        agreement=share("random") or 0.0,
        num_samples=total["random"],
        atol=config.atol,
        min_agreement=config.min_agreement,
        confident_agreement=share("confident"),
        num_confident=total["confident"],
        real_agreement=share("real"),
        num_real=total["real"],
        num_classes=validation.num_classes,
        head=validation.head,
    )
    (logger.info if report.passed else logger.warning)("validation %s", report.verdict())
    return report


def measure_latency_ms(
    session: Any,
    input_names: tuple[str, ...],
    space: SpecialTokens,
    *,
    batch_size: int = 1,
    seq_length: int = 32,
    runs: int = 20,
) -> float:
    """Median wall time (ms) of one `session.run` on a fixed generated batch, after 3 warm-up runs."""
    ids, mask = random_token_batch(space, np.random.default_rng(0), batch_size, seq_length, padded=False)
    feeds = feeds_for(input_names, ids, mask, space)
    for _ in range(3):
        session.run(["logits"], feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(["logits"], feeds)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
