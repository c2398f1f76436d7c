"""Every family of the architecture registry, proven by a tiny random model through distill -> export (validated)
-> runtime -> bench (`run_pipeline`, what `compress run` calls), with the runtime matching PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from asdfd.core.architectures import ARCHITECTURES, architecture_of
from asdfd.core.errors import ModelLoadError
from asdfd.pipeline import plan_run, run_pipeline
from asdfd.runtime import Classifier
from tests.conftest import FAMILY_BUILDERS, build_tiny_teacher
from tests.test_pipeline import TINY_RUN

SEGMENT_IDS = {
    "bert": True,
    "electra": True,
    "distilbert": False,
    "roberta": False,
    "xlm-roberta": False,
    "deberta-v2": False,  # type_vocab_size 0, as DeBERTa-v3 checkpoints ship
    "modernbert": False,
}
"""What each family's graph takes, stated independently of the registry it checks."""


def test_every_registered_family_has_a_tiny_builder_and_an_expected_input_set():
    assert set(FAMILY_BUILDERS) == set(ARCHITECTURES) == set(SEGMENT_IDS)


@pytest.fixture(scope="module", params=sorted(FAMILY_BUILDERS))
def family_dir(request, tmp_path_factory):
    return request.param, FAMILY_BUILDERS[request.param](tmp_path_factory.mktemp(request.param), num_hidden_layers=4)


def test_family_round_trip_distill_export_runtime_bench(tmp_path, family_dir, tiny_labelled_tsv):
    model_type, teacher = family_dir
    run = json.loads(json.dumps(TINY_RUN))
    arch = ARCHITECTURES[model_type]
    run["distill"]["student"] = {"num_layers": 2, "ffn_size": 20, **({"num_heads": 1} if arch.head_pruning else {})}
    plan = plan_run(teacher, tmp_path / "student.onnx", file_options=run, flag_options={"eval_file": tiny_labelled_tsv})
    result = run_pipeline(plan)
    assert result.stages == {"distill": "ran", "export": "ran", "bench": "ran"}
    report = json.loads(result.paths["report_json"].read_text())
    assert report["config"]["students"] == [str(plan.out)] and report["config"]["teacher"] == str(teacher)

    student_dir = plan.student_dir
    config = json.loads((student_dir / "config.json").read_text())
    assert config["model_type"] == model_type and architecture_of(config).num_layers(config) == 2
    classifier = Classifier.load(plan.out)
    expected_inputs = {"input_ids", "attention_mask"} | ({"token_type_ids"} if SEGMENT_IDS[model_type] else set())
    assert set(classifier.input_names) == expected_inputs

    texts = ["good movie", "the plot was awful and boring", "fun"]
    student = AutoModelForSequenceClassification.from_pretrained(student_dir, trust_remote_code=False).eval()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(student_dir, trust_remote_code=False)
    encoded = tokenizer(texts, padding=True, return_tensors="pt", return_token_type_ids=SEGMENT_IDS[model_type])
    with torch.no_grad():
        reference = torch.softmax(student(**encoded).logits, -1).numpy()
    probabilities = classifier.predict_proba(texts)
    np.testing.assert_allclose(probabilities, reference, atol=0.05)  # int8 graph vs the PyTorch student
    assert [p.label for p in classifier.predict(texts)] == [
        student.config.id2label[int(i)] for i in reference.argmax(-1)
    ]


def test_head_pruning_where_the_family_cannot_is_one_line(tmp_path):
    from asdfd.compressor import DistillConfig, StudentConfig, distill
    from asdfd.core.errors import ConfigError
    from tests.conftest import build_tiny_deberta_v2

    teacher = build_tiny_deberta_v2(tmp_path / "deberta")
    config = DistillConfig(steps=1, student=StudentConfig(num_layers=1, num_heads=1), show_progress=False)
    with pytest.raises(ConfigError, match="DeBERTa-v2/v3 students keep every attention head.*drop --student-heads"):
        distill(teacher, tmp_path / "s", config)


def test_an_unsupported_family_is_one_line_naming_the_supported(tmp_path):
    folder = build_tiny_teacher(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "gpt2"
    with pytest.raises(
        ModelLoadError, match=r"unsupported architecture 'gpt2' in config.json: supported are BERT"
    ) as err:
        architecture_of(config)
    assert all(f"({model_type})" in str(err.value) for model_type in ARCHITECTURES)
