"""The teacher recipe on a tiny base model: it trains, saves a loadable classifier, and reports accuracy."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForSequenceClassification

from asdfd.cli import main
from asdfd.core.errors import ConfigError, OutputExistsError
from asdfd.core.model_folder import read_classifier_config
from asdfd.pipeline.teacher_recipe import TeacherRecipeConfig, train_teacher


def test_train_teacher_writes_a_classifier(tmp_path, tiny_teacher_dir, tiny_labelled_tsv):
    out = tmp_path / "teacher"
    config = TeacherRecipeConfig(
        base_model=str(tiny_teacher_dir), steps=3, batch_size=4, label_names=("neg", "pos"), show_progress=False
    )
    summary = train_teacher(tiny_labelled_tsv, out, config, eval_file=tiny_labelled_tsv)
    assert 0.0 <= summary["eval_accuracy"] <= 1.0
    assert read_classifier_config(out)["id2label"] == {"0": "neg", "1": "pos"}
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model(input_ids=torch.tensor([[2, 5, 3]])).logits.shape == (1, 2)
    assert json.loads((out / "teacher.json").read_text())["rows"] == 24
    assert (out / "tokenizer.json").is_file()
    with pytest.raises(OutputExistsError):
        train_teacher(tiny_labelled_tsv, out, config)


def test_train_teacher_rejects_bad_options(tmp_path, tiny_teacher_dir, tiny_labelled_tsv):
    with pytest.raises(ConfigError, match="steps"):
        TeacherRecipeConfig(steps=0)
    config = TeacherRecipeConfig(base_model=str(tiny_teacher_dir), steps=1, label_names=("a", "b", "c"))
    with pytest.raises(ConfigError, match="label-names"):
        train_teacher(tiny_labelled_tsv, tmp_path / "t", config)
    result = CliRunner().invoke(
        main,
        [
            "teacher",
            "--train",
            str(tmp_path / "missing.tsv"),
            "--out",
            str(tmp_path / "x"),
            "--base-model",
            str(tiny_teacher_dir),
        ],
    )
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "x").exists()
