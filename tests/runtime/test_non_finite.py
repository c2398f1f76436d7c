"""Nothing non-finite passes as a result: NaN/inf labels, weights, model outputs and metrics are refused or reported
as undefined with the reason, at every stage (the CLI cases are in tests/test_bad_inputs.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from asdfd.core._io import write_json_atomic
from asdfd.core.errors import NonFiniteError, TrainingDivergedError
from asdfd.core.heads import MULTI_LABEL, SCORE, SINGLE_LABEL
from asdfd.runtime.metrics import task_quality


def test_json_outputs_refuse_nan_and_name_where(tmp_path):
    target = tmp_path / "report.json"
    with pytest.raises(NonFiniteError, match=r"models.0.accuracy is not a finite number"):
        write_json_atomic(target, {"models": [{"accuracy": float("nan")}], "ok": 1.0})
    assert not target.exists() and list(tmp_path.iterdir()) == []
    write_json_atomic(target, {"accuracy": None, "ok": 1.0})
    assert json.loads(target.read_text()) == {"accuracy": None, "ok": 1.0}


def test_undefined_figures_are_none_with_the_reason():
    constant = np.zeros((8, 1))
    varying = np.arange(8, dtype=float).reshape(8, 1)
    entry = task_quality(SCORE, constant, varying, np.arange(8, dtype=float))
    assert entry["agreement"] is None and entry["pearson"] is None and entry["spearman"] is None
    assert "constant" in entry["undefined"]["pearson"]
    assert task_quality(SCORE, varying, varying)["agreement"] == pytest.approx(1.0)
    assert "undefined" not in task_quality(SCORE, varying, varying)
    logits = np.array([[2.0, -2.0], [-2.0, 2.0]])
    labels = np.array([[0, 0], [0, 0]])
    assert task_quality(MULTI_LABEL, logits, logits, labels)["undefined"] == {
        "macro_f1": "no label of the model occurs in the labels"
    }


@pytest.mark.parametrize("who", ["model", "teacher"])
def test_figures_of_nan_outputs_are_refused(who):
    good = np.array([[1.0, 0.0], [0.0, 1.0]])
    bad = np.array([[np.nan, 0.0], [0.0, 1.0]])
    logits = {"model": (bad, good), "teacher": (good, bad)}[who]
    with pytest.raises(NonFiniteError, match=f"the {who}'s outputs hold NaN/inf"):
        task_quality(SINGLE_LABEL, *logits, np.array([0, 1]))


def test_runtime_refuses_to_return_nan_scores(tiny_teacher_onnx, tmp_path):  # fixture: tests/runtime/conftest.py
    import onnx
    from onnx import numpy_helper

    from asdfd.runtime import Classifier

    model = onnx.load(str(tiny_teacher_onnx))
    head = next(t for t in model.graph.initializer if "classifier" in t.name and "weight" in t.name)
    head.CopyFrom(numpy_helper.from_array(np.full_like(numpy_helper.to_array(head), np.nan), head.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    classifier = Classifier.load(broken)
    for call in (classifier.predict, classifier.predict_proba, classifier.predict_logits):
        with pytest.raises(NonFiniteError, match=r"outputs NaN/inf for 2 of 2 texts .*the model is broken"):
            call(["a text", "another text"])
    assert Classifier.load(tiny_teacher_onnx).predict(["a text"])[0].score > 0  # the intact graph still answers


def test_validation_fails_a_graph_that_outputs_nan(tiny_teacher_dir):
    from asdfd.export import ValidationConfig
    from asdfd.export.validate import ValidationSet, validate_graph

    ids = np.array([[2, 5, 6, 3]], dtype=np.int64)
    validation = ValidationSet(
        batches=[(ids, np.ones_like(ids))], reference_logits=[np.array([[0.5, -0.5]], np.float32)], kinds=["random"]
    )

    class NanSession:
        def run(self, names, feeds):
            return [np.array([[np.nan, np.nan]], np.float32)]

    for precision in ("fp32", "int8"):
        report = validate_graph(
            NanSession(),
            validation,
            ("input_ids", "attention_mask"),
            variant="v",
            precision=precision,
            config=ValidationConfig(),
        )
        assert not report.passed and "FAILED" in report.verdict(), report.verdict()


def test_teacher_recipe_stops_when_training_diverges(tiny_teacher_dir, tiny_labelled_tsv, tmp_path, monkeypatch):
    import torch

    from asdfd.pipeline.teacher_recipe import TeacherRecipeConfig, train_teacher

    step = torch.optim.AdamW.step

    def diverging_step(self, *args, **kwargs):  # what too large a step size does, made certain
        result = step(self, *args, **kwargs)
        with torch.no_grad():
            self.param_groups[0]["params"][-1].fill_(float("nan"))
        return result

    monkeypatch.setattr(torch.optim.AdamW, "step", diverging_step)
    config = TeacherRecipeConfig(base_model=str(tiny_teacher_dir), steps=6, batch_size=4, show_progress=False)
    with pytest.raises(TrainingDivergedError, match=r"teacher training diverged at step 2 \(loss nan\): lower --lr"):
        train_teacher(tiny_labelled_tsv, tmp_path / "out", config)
    assert not (tmp_path / "out").exists()


def test_a_teacher_with_nan_weights_is_refused_by_every_loader(tiny_teacher_dir, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from asdfd.core.model_folder import load_sequence_classifier

    folder = tmp_path / "teacher"
    shutil.copytree(tiny_teacher_dir, folder)
    weights = load_file(folder / "model.safetensors")
    name = next(k for k in weights if k.endswith("LayerNorm.weight"))
    weights[name] = weights[name].clone()
    weights[name][0] = float("inf")
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(NonFiniteError, match=f"hold NaN/inf \\({name}\\)"):
        load_sequence_classifier(folder)
    assert torch.isfinite(load_sequence_classifier(tiny_teacher_dir).classifier.weight).all()


def test_teacher_recipe_refuses_a_learning_rate_that_overflows(tiny_teacher_dir, tiny_labelled_tsv, tmp_path):
    from asdfd.core.errors import ConfigError
    from asdfd.pipeline.teacher_recipe import TeacherRecipeConfig, train_teacher

    with pytest.raises(ConfigError, match=r"--lr must be in \(0, 1\], got 1e\+38"):
        train_teacher(
            tiny_labelled_tsv, tmp_path / "out", TeacherRecipeConfig(base_model=str(tiny_teacher_dir), lr=1e38)
        )
