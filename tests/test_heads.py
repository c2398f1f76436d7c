"""Multi-label and score heads end to end: distill -> export (validated) -> runtime -> bench on tiny models, the
runtime matching PyTorch, thresholds and scores as documented, the losses and metrics they use, the teacher recipe,
and one-line errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from asdfd.core.errors import ConfigError, DataError, ModelLoadError
from asdfd.core.heads import MULTI_LABEL, SCORE, SINGLE_LABEL, eval_targets, head_of
from asdfd.pipeline import plan_run, run_pipeline
from asdfd.runtime import Classifier, metrics
from tests.conftest import WORDS, build_tiny_teacher
from tests.test_pipeline import TINY_RUN

EMOTIONS = {0: "anger", 1: "fear", 2: "joy"}
MULTI = dict(
    problem_type="multi_label_classification",
    num_labels=3,
    id2label=EMOTIONS,
    label2id={v: k for k, v in EMOTIONS.items()},
)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCORE_HEAD = dict(num_labels=1, id2label={0: "score"}, label2id={"score": 0})


def _tsv(path, rows):
    path.write_text("sentence\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows), encoding="utf-8")
    return path


def _texts(count, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.sample(WORDS, 5)) for _ in range(count)]


@pytest.fixture(scope="module")
def multi_label_teacher(tmp_path_factory):
    return build_tiny_teacher(tmp_path_factory.mktemp("multi"), num_hidden_layers=4, **MULTI)


@pytest.fixture(scope="module")
def score_teacher(tmp_path_factory):
    return build_tiny_teacher(tmp_path_factory.mktemp("score"), num_hidden_layers=4, **SCORE_HEAD)


def _student_logits(student_dir, texts):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    student = AutoModelForSequenceClassification.from_pretrained(student_dir, trust_remote_code=False).eval()
    tokenizer = AutoTokenizer.from_pretrained(student_dir, trust_remote_code=False)
    with torch.no_grad():
        return student(**tokenizer(texts, padding=True, return_tensors="pt")).logits.double().numpy()


def test_heads_are_read_from_config():
    assert head_of({"id2label": {"0": "a", "1": "b"}}) == SINGLE_LABEL
    assert head_of({"problem_type": "multi_label_classification", "id2label": {"0": "a", "1": "b"}}) == MULTI_LABEL
    assert head_of({"num_labels": 1}) == SCORE and head_of({"id2label": {"0": "score"}}) == SCORE
    with pytest.raises(ModelLoadError, match="problem_type regression with 3 outputs is not supported"):
        head_of({"problem_type": "regression", "num_labels": 3})


def _round_trip(teacher, tmp_path, rows):
    """`compress run` on `teacher` with a labelled eval file of `rows`: (plan, result, distill.json metrics)."""
    eval_file = _tsv(tmp_path / "eval.tsv", rows)
    plan = plan_run(teacher, tmp_path / "student.onnx", file_options=TINY_RUN, flag_options={"eval_file": eval_file})
    result = run_pipeline(plan)
    return plan, result, json.loads((plan.student_dir / "distill.json").read_text())["metrics"]


def test_multi_label_round_trip(tmp_path, multi_label_teacher):
    rows = [(text, ["joy", "anger,fear", "fear", "joy,anger,fear"][i % 4]) for i, text in enumerate(_texts(24))]
    plan, result, distilled = _round_trip(multi_label_teacher, tmp_path, rows)
    assert {"eval_micro_f1", "eval_macro_f1", "teacher_eval_micro_f1", "eval_agreement"} <= set(distilled)
    assert "eval_accuracy" not in distilled and "heldout_pseudo_agreement" not in distilled

    report = json.loads(result.paths["report_json"].read_text())
    quality = report["quality"]
    assert quality["head"] == MULTI_LABEL and quality["threshold"] == 0.5
    # distilled by the default input forms; no data-free estimate is fitted for multi-label teachers: unknown, why
    assert distilled["method"] == "forms" and set(distilled["forms"]) == {"tokens", "words", "short"}
    assert report["estimate"]["status"] == "unknown" and "multi-label" in report["estimate"]["why"][0]
    student = quality["models"][next(name for name in quality["models"] if name.startswith("student"))]
    assert len(student["per_label_agreement"]) == 3 and 0 <= student["micro_f1"] <= 1
    assert "confusion_vs_teacher" not in student and "ece" not in student
    assert "micro F1" in result.report.to_markdown() and "Per label" in result.report.to_markdown()

    classifier = Classifier.load(plan.out)
    assert classifier.head == MULTI_LABEL and classifier.labels == ("anger", "fear", "joy")
    texts = _texts(6, seed=1)
    reference = metrics.sigmoid(_student_logits(plan.student_dir, texts))
    probabilities = classifier.predict_proba(texts)
    np.testing.assert_allclose(probabilities, reference, atol=0.05)  # int8 graph vs PyTorch, a sigmoid per label
    assert not np.allclose(probabilities.sum(1), 1.0)  # not a softmax
    for threshold in (0.3, 0.5, 0.7):
        for prediction, row in zip(classifier.predict(texts, threshold=threshold), probabilities):
            expected = {classifier.labels[k] for k in range(3) if row[k] >= threshold}
            assert set(prediction.labels) == expected
            assert list(prediction.labels) == sorted(prediction.labels, key=lambda n: -prediction.scores[n])
    strict = Classifier.load(plan.out, threshold=0.99)
    assert all(p.labels == () for p in strict.predict(texts)) or probabilities.max() >= 0.99
    with pytest.raises(ConfigError, match=r"threshold must be in \(0, 1\)"):
        classifier.predict(texts, threshold=1.5)
    with pytest.raises(ConfigError, match="multi-label classifier: use predict_proba"):
        classifier.predict_scores(texts)

    # The stdin example prints the labels over its --threshold; the HTTP one returns them.
    stdin = subprocess.run(
        [sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", str(plan.out), "--threshold", "0.3"],
        input="\n".join(texts[:2]) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [",".join(p.labels) or "-" for p in classifier.predict(texts[:2], threshold=0.3)]
    assert [line.split("\t")[0] for line in stdin.stdout.splitlines()] == expected
    sys.path.insert(0, str(EXAMPLES))
    try:
        from serve_http import make_server
    finally:
        sys.path.remove(str(EXAMPLES))
    server = make_server(plan.out, port=0, threshold=0.3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = json.dumps({"texts": texts[:2]}).encode()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/classify", body, timeout=30) as r:
            answer = json.loads(r.read())
    finally:
        server.shutdown()
        server.server_close()
    assert [",".join(p["labels"]) or "-" for p in answer["predictions"]] == expected


def test_score_round_trip(tmp_path, score_teacher):
    rng = random.Random(0)
    rows = [(text, f"{rng.uniform(0, 5):.2f}") for text in _texts(24)]
    plan, result, distilled = _round_trip(score_teacher, tmp_path, rows)
    assert {"eval_pearson", "eval_spearman", "teacher_eval_pearson", "eval_spearman_vs_teacher"} <= set(distilled)

    quality = json.loads(result.paths["report_json"].read_text())["quality"]
    assert quality["head"] == SCORE
    teacher = quality["models"][quality["reference"]]
    assert teacher["agreement"] == pytest.approx(1.0) and teacher["mse_vs_teacher"] == pytest.approx(0.0)
    assert "Spearman vs teacher" in result.report.to_markdown()

    classifier = Classifier.load(plan.out)
    assert classifier.head == SCORE
    texts = _texts(6, seed=2)
    reference = _student_logits(plan.student_dir, texts)[:, 0]
    scores = classifier.predict_scores(texts)
    assert scores.shape == (6,)
    np.testing.assert_allclose(scores, reference, atol=0.05 * max(1.0, float(np.abs(reference).max())))
    predictions = classifier.predict(texts)
    assert [p.score for p in predictions] == pytest.approx(scores.tolist()) and predictions[0].labels == ()
    with pytest.raises(ConfigError, match="outputs a score, not probabilities"):
        classifier.predict_proba(texts)


def test_asdfd_method_is_refused_for_multi_label_and_score_heads(tmp_path, multi_label_teacher, score_teacher):
    from asdfd.compressor import DistillConfig, distill

    config = DistillConfig(method="asdfd", steps=1, show_progress=False)
    with pytest.raises(ConfigError, match="multi-label head"):
        distill(multi_label_teacher, tmp_path / "a", config)
    with pytest.raises(ConfigError, match="for a score head"):
        distill(score_teacher, tmp_path / "b", config)


def test_eval_labels_per_head_and_their_errors():
    names = ("anger", "fear", "joy")
    assert eval_targets(["joy", "anger,fear", "0, 2"], names, MULTI_LABEL, "f") == [[0, 0, 1], [1, 1, 0], [1, 0, 1]]
    assert eval_targets(["1.5", "-2"], ["score"], SCORE, "f") == [1.5, -2.0]
    with pytest.raises(DataError, match="f: label 'sad' is neither a label of the model"):
        eval_targets(["joy,sad"], names, MULTI_LABEL, "f")
    with pytest.raises(DataError, match="label 'high' is not a number"):
        eval_targets(["high"], ["score"], SCORE, "f")


def test_multilabel_kd_is_zero_at_the_teacher_and_pulls_towards_it():
    from asdfd.compressor.losses import multilabel_kd_loss, score_kd_loss

    teacher = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 1.0]])
    assert float(multilabel_kd_loss(teacher.clone(), teacher)) == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros_like(teacher, requires_grad=True)
    loss = multilabel_kd_loss(student, teacher, temperature=2.0)
    assert float(loss.detach()) > 0
    loss.backward()
    assert torch.all(torch.sign(-student.grad) == torch.sign(teacher))  # descent moves each logit towards the teacher
    assert float(score_kd_loss(torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [1.0]]))) == pytest.approx(2.5)


def test_f1_pearson_spearman_against_hand_computed_values():
    truth = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    predicted = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    micro, macro, per_label = metrics.f1_scores(predicted, truth)
    # label 0: tp 1, fp 1, fn 1 -> 0.5; label 1: tp 2 -> 1.0; micro: tp 3, fp 1, fn 1 -> 0.75
    assert per_label.tolist() == pytest.approx([0.5, 1.0]) and macro == pytest.approx(0.75)
    assert micro == pytest.approx(0.75)
    assert metrics.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [1, 4, 9, 100]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)  # tie-averaged ranks
    assert np.isnan(metrics.pearson([1, 1, 1], [1, 2, 3]))


def test_guided_selection_covers_every_label_and_both_ends_of_a_score():
    from asdfd.compressor.head_losses import task_head
    from asdfd.compressor.synthesis.guided import select_inputs

    logits = torch.randn(40, 3)
    logits[7, 2] = 9.0  # the one row sure of label 2
    scores, uncertainty = task_head(MULTI_LABEL).selection(logits)
    assert 7 in select_inputs(scores, 3, 0.0, uncertainty=uncertainty).tolist()
    values = torch.linspace(-1, 1, 41)[:, None]
    scores, uncertainty = task_head(SCORE).selection(values)
    chosen = select_inputs(scores, 3, 1 / 3, uncertainty=uncertainty).tolist()
    assert set(chosen) == {20, 40, 0}  # the middle (uncertain), then the highest and the lowest score


def test_teacher_recipe_trains_multi_label_and_score_heads(tmp_path, tiny_teacher_dir):
    from asdfd.pipeline.teacher_recipe import detect_task, train_teacher
    from asdfd.pipeline.teacher_recipe_config import TeacherRecipeConfig

    assert detect_task(["joy", "joy,fear"]) == MULTI_LABEL and detect_task(["0.5", "2"]) == SCORE
    assert detect_task(["0", "1"]) == SINGLE_LABEL and detect_task(["pos", "neg"]) == SINGLE_LABEL
    texts = _texts(16)
    multi = _tsv(tmp_path / "m.tsv", [(t, ["joy", "fear,joy", "anger"][i % 3]) for i, t in enumerate(texts)])
    config = TeacherRecipeConfig(base_model=str(tiny_teacher_dir), steps=2, batch_size=4, show_progress=False)
    summary = train_teacher(multi, tmp_path / "multi", config, eval_file=multi)
    assert summary["task"] == MULTI_LABEL and 0 <= summary["eval_micro_f1"] <= 1 and "eval_macro_f1" in summary
    saved = json.loads((tmp_path / "multi" / "config.json").read_text())
    assert saved["problem_type"] == "multi_label_classification" and saved["id2label"] == {
        "0": "anger",
        "1": "fear",
        "2": "joy",
    }
    scores = _tsv(tmp_path / "s.tsv", [(t, f"{i / 4:.2f}") for i, t in enumerate(texts)])
    summary = train_teacher(scores, tmp_path / "score", config, eval_file=scores)
    assert summary["task"] == SCORE and "eval_pearson" in summary
    assert head_of(json.loads((tmp_path / "score" / "config.json").read_text())) == SCORE
