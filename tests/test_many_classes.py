"""A many-class teacher: int8 is judged on inputs where the model is decided, and nothing aborts a run.

The reliability issue's item 0: on a 14-class teacher `compress run` distilled and exported a good student,
then exited 1 because the benchmark's int8 baseline of the teacher failed validation on random tokens.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from asdfd.cli import main
from asdfd.export import ExportConfig, ValidationConfig, export_onnx
from asdfd.export.validate import ValidationReport, random_agreement_floor
from tests.conftest import build_tiny_teacher
from tests.test_pipeline import TINY_RUN

NUM_CLASSES = 14


@pytest.fixture(scope="module")
def many_class_teacher(tmp_path_factory):
    labels = {i: f"topic{i}" for i in range(NUM_CLASSES)}
    return build_tiny_teacher(
        tmp_path_factory.mktemp("teacher-14"),
        num_labels=NUM_CLASSES,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )


def _report(*, confident: float, random: float, classes: int, real: float | None = None) -> ValidationReport:
    return ValidationReport(
        variant="int8",
        precision="int8",
        max_abs_diff=0.1,
        max_prob_diff=0.1,
        agreement=random,
        num_samples=80,
        atol=1e-4,
        min_agreement=0.9,
        confident_agreement=confident,
        num_confident=128,
        real_agreement=real,
        num_real=50 if real is not None else 0,
        num_classes=classes,
    )


def test_random_agreement_floor_scales_with_classes():
    assert random_agreement_floor(0.9, 2) == pytest.approx(0.9)
    assert random_agreement_floor(0.9, 14) == pytest.approx(1 - 0.1 * np.log2(14))
    assert random_agreement_floor(0.9, 6) < random_agreement_floor(0.9, 3) < random_agreement_floor(0.9, 2)
    assert random_agreement_floor(0.5, 10_000) == 0.0


def test_quantized_graph_is_judged_on_decided_inputs():
    # The reported case: 82.5% on random tokens, a 14-class teacher, decided inputs kept.
    assert _report(confident=0.97, random=0.825, classes=14).passed
    assert not _report(confident=0.97, random=0.825, classes=2).passed  # 2 classes: random floor 90%
    assert not _report(confident=0.85, random=0.99, classes=14).passed  # the inputs that decide disagree
    assert not _report(confident=0.97, random=0.30, classes=14).passed  # broken everywhere
    real = _report(confident=0.5, random=0.9, classes=14, real=0.95)
    assert real.decided_by == "real" and real.passed  # real texts decide when given
    verdict = real.verdict()
    assert "real texts" in verdict and "confident generated inputs" in verdict and "random inputs" in verdict


def test_many_class_teacher_exports_int8_with_the_figures(many_class_teacher, tmp_path, tiny_labelled_tsv):
    validation = ValidationConfig(num_samples=32, confident_samples=64, latency_runs=2)
    result = export_onnx(
        many_class_teacher,
        tmp_path / "t.onnx",
        ExportConfig(quantize="int8", validation=validation, show_progress=False),
    )
    final = result.validation["final"]
    assert final["num_classes"] == NUM_CLASSES and final["num_confident"] == 64
    assert final["min_random_agreement"] == pytest.approx(random_agreement_floor(0.9, NUM_CLASSES))
    assert final["passed"] and (result.variant != "fp32" or result.fallbacks)

    with_texts = ExportConfig(
        quantize="int8",
        show_progress=False,
        validation=ValidationConfig(
            num_samples=16, confident_samples=16, latency_runs=2, eval_file=str(tiny_labelled_tsv)
        ),
    )
    real = export_onnx(many_class_teacher, tmp_path / "r.onnx", with_texts).validation["final"]
    assert real["decided_by"] == "real" and real["num_real"] == 24


def test_run_on_many_class_teacher_finishes_even_when_a_baseline_cannot_be_built(
    many_class_teacher, tmp_path, monkeypatch
):
    """Every int8 graph of the teacher fails (sabotaged): the run still ends with a report that says so."""
    from asdfd.core.errors import ValidationError
    from asdfd.runtime.bench import lineup as bench

    def no_int8_baseline(teacher, out, *, quantize, **options):
        if quantize != "none":
            raise ValidationError(f"exported {quantize} graph failed validation, nothing written: (figures)")
        return real_baseline(teacher, out, quantize=quantize, **options)

    real_baseline = bench._export_teacher_baseline
    monkeypatch.setattr(bench, "_export_teacher_baseline", no_int8_baseline)
    options = {**TINY_RUN, "bench": {**TINY_RUN["bench"], "teacher_onnx": ["none", "int8"]}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(options), encoding="utf-8")
    out = tmp_path / "student.onnx"
    result = CliRunner().invoke(
        main, ["-q", "run", "--teacher", str(many_class_teacher), "--out", str(out), "--config", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    final = json.loads(result.output.splitlines()[-1])
    report = final["report"]
    names = [model["name"] for model in report["models"]]
    assert "teacher ONNX int8" not in names and "teacher ONNX fp32" in names
    assert any("int8 baseline could not be built" in note for note in report["notes"])
    assert out.is_file()
