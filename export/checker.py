"""A validation set bound to how graphs are judged on it: every exported variant is checked (and timed) here.

The set is chosen explicitly by the caller (`make_checker`), named, and described in the export's result, so
which inputs decided a verdict is never implicit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asdfd.core.errors import ValidationError
from asdfd.export.export_config import ValidationConfig
from asdfd.export.source import SourceModel
from asdfd.export.validate import (
    ValidationReport,
    ValidationSet,
    make_session,
    make_validation_set,
    measure_latency_ms,
    validate_graph,
)

__all__ = ["ValidatedGraph", "GraphChecker", "make_checker", "auto_validation"]


@dataclass(frozen=True)
class ValidatedGraph:
    """An .onnx file in the scratch folder with its verdict against PyTorch."""

    path: Path
    variant: str
    """What the file holds: "fp32", "fp16" or an int8 preset name (its report may name the step instead, e.g.
    "fp32-optimized")."""
    report: ValidationReport

    def to_dict(self) -> dict[str, Any]:
        """The report's figures and its one-line verdict (what the artifact and the result record)."""
        return {**self.report.to_dict(), "verdict": self.report.verdict()}


@dataclass(frozen=True)
class GraphChecker:
    """Judges graph files on one validation set (PyTorch logits computed once) and times them."""

    name: str
    """"default" (`ValidationConfig` as given) or "auto" (the larger set `--quantize auto` decides on)."""
    config: ValidationConfig
    inputs: ValidationSet
    input_names: tuple[str, ...]
    max_length: int

    def validate(self, path: Path, variant: str, precision: str, providers: list[str] | None = None) -> ValidatedGraph:
        session = make_session(path, providers)
        report = validate_graph(
            session, self.inputs, self.input_names, variant=variant, precision=precision, config=self.config
        )
        return ValidatedGraph(path=path, variant=variant, report=report)

    def require_fp32(self, path: Path) -> ValidatedGraph:
        """The exported fp32 graph, which must match PyTorch within atol.

        Raises:
            ValidationError: with the figures.
        """
        fp32 = self.validate(path, "fp32", "fp32")
        if not fp32.report.passed:
            raise ValidationError(f"ONNX export does not match PyTorch: {fp32.report.verdict()}")
        return fp32

    def latency_ms(self, path: Path) -> float:
        """Median batch-1 latency on a short generated batch (what decides between variants)."""
        return measure_latency_ms(
            make_session(path),
            self.input_names,
            self.inputs.space,
            seq_length=min(32, self.max_length),
            runs=self.config.latency_runs,
        )

    def describe(self) -> dict[str, Any]:
        """Which inputs the verdicts were reached on (recorded in the result and the artifact)."""
        counts = {kind: 0 for kind in ("random", "confident", "real")}
        for (ids, _), kind in zip(self.inputs.batches, self.inputs.kinds):
            counts[kind] += len(ids)
        return {
            "name": self.name,
            "seed": self.config.seed,
            "num_samples": self.config.num_samples,
            "inputs": counts,
        }


def auto_validation(config: ValidationConfig) -> ValidationConfig:
    """The validation `--quantize auto` decides on: `auto_num_samples` generated samples under another seed, so that
    an agreement budget of half a point is resolvable (with the default 64 samples one disagreement is 1.5 points)."""
    return dataclasses.replace(config, num_samples=config.auto_num_samples, seed=config.seed + 1)


def make_checker(
    source: SourceModel, input_names: tuple[str, ...], config: ValidationConfig, *, name: str = "default"
) -> GraphChecker:
    """Generate the validation inputs (plus the eval file's texts), run PyTorch on them once, and bind them."""
    inputs = make_validation_set(
        source.model,
        source.space,
        input_names,
        config,
        source.max_length,
        tokenizer=source.tokenizer,
        real_texts=list(source.real_texts),
    )
    return GraphChecker(name=name, config=config, inputs=inputs, input_names=input_names, max_length=source.max_length)
