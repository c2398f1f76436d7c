"""The exporter's steps one by one: each takes values and returns a frozen result."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from asdfd.export.checker import ValidatedGraph
from asdfd.export.export_config import dynamic_preset, static_preset
from asdfd.export.fused import optimize_fp32
from asdfd.export.validate import ValidationReport
from asdfd.export.variants import QuantizedGraph, int8_fallbacks

REPORT = ValidationReport(
    variant="fp32",
    precision="fp32",
    max_abs_diff=1e-6,
    max_prob_diff=1e-7,
    agreement=1.0,
    num_samples=8,
    atol=1e-4,
    min_agreement=0.9,
)
FP32 = ValidatedGraph(path=Path("model.fp32.onnx"), variant="fp32", report=REPORT)


def test_int8_fallbacks_try_the_request_then_the_cpus_dynamic_recipe_then_fp32_embeddings():
    dynamic = dynamic_preset(reduce_range=True)
    chain = [p.name for p in int8_fallbacks(static_preset(), dynamic)]
    assert chain == [
        "static-u8s8-qoperator-minmax",
        "dynamic-s8-per-channel-reduce-range",
        "dynamic-s8-per-channel-reduce-range-fp32-embeddings",
    ]
    assert [p.name for p in int8_fallbacks(dynamic, dynamic)] == chain[1:]  # no recipe twice


def test_no_optimize_keeps_the_graph_and_says_why(tmp_path):
    class NeverCalled:
        def __getattr__(self, name):
            raise AssertionError(f"--no-optimize must not validate or time anything ({name})")

    optimized = optimize_fp32(FP32, NeverCalled(), tmp_path, enabled=False, num_layers=2, device="cpu")
    assert optimized.graph is FP32
    assert optimized.record == {"requested": False, "applied": False, "reason": "--no-optimize"}
    assert list(tmp_path.iterdir()) == []


def test_step_results_are_frozen_and_record_their_provenance():
    quantized = QuantizedGraph(final=FP32, fp32=FP32, validation_set={"name": "default"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        quantized.final = FP32  # type: ignore[misc]
    provenance = quantized.provenance()
    assert provenance["variant"] == "fp32" and provenance["quantization"] is None
    assert provenance["validation"]["final"]["verdict"].startswith("fp32: OK")
    assert provenance["validation_set"] == {"name": "default"} and provenance["fallbacks"] == []
