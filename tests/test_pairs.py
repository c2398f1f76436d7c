"""Sentence-pair classifiers end to end: pair framing and segment ids, distill -> export -> runtime with
token_type_ids kept, the examples' pair inputs, and one-line errors for the wrong kind of input."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from asdfd.compressor import DistillConfig, StudentConfig, distill
from asdfd.compressor.frozen_teacher import load_teacher, segment_ids
from asdfd.core.data import read_labelled_file
from asdfd.core.errors import ConfigError, DataError
from asdfd.core.model_folder import input_kind
from asdfd.core.special_tokens import SpecialTokens
from asdfd.pipeline import plan_run, run_pipeline
from asdfd.runtime import Classifier
from tests.conftest import WORDS, build_tiny_roberta, build_tiny_teacher
from tests.test_pipeline import TINY_RUN

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PAIR_LABELS = dict(
    num_labels=2,
    id2label={0: "not_equivalent", 1: "equivalent"},
    label2id={"not_equivalent": 0, "equivalent": 1},
)
PAIRS = [("good movie", "a good film"), ("the plot was awful", "fun story"), ("boring", "very boring and bad")]


@pytest.fixture(scope="module")
def pair_teacher(tmp_path_factory) -> Path:
    """A 4-layer tiny BERT paraphrase classifier: pair-task labels, segment embeddings; large random weights, so
    its outputs (and their dependence on the segment ids) are far from constant."""
    return build_tiny_teacher(
        tmp_path_factory.mktemp("pair-teacher"), num_hidden_layers=4, initializer_range=0.5, **PAIR_LABELS
    )


@pytest.fixture(scope="module")
def pair_tsv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    rows = ["sentence1\tsentence2\tlabel"]
    for _ in range(16):
        a, b = (" ".join(rng.choice(WORDS, 5)) for _ in range(2))
        rows.append(f"{a}\t{b}\t{'equivalent' if rng.random() < 0.5 else 'not_equivalent'}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_pair_framing_and_segment_ids_match_the_tokenizer(tiny_teacher_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    single = SpecialTokens.from_tokenizer(tokenizer, 99)
    pairs = single.for_pairs(1)
    body = np.random.default_rng(0).integers(5, 99, (64, 20))
    ids, mask = pairs.frame(body, np.random.default_rng(1).integers(3, 21, 64))
    lengths = mask.sum(1)
    assert lengths.min() >= pairs.min_length == 5
    for row, length in zip(ids, lengths):
        assert row[0] == single.cls and row[length - 1] == single.sep and (row[1 : length - 1] == single.sep).sum() == 1
    related = 0
    for row in ids:
        first_sep = np.flatnonzero(row == single.sep)[0]
        related += bool(set(row[1:first_sep]) & set(row[first_sep + 1 :]) - {single.sep, single.pad})
    assert 16 <= related <= 56  # about half the pairs share tokens (a copied, partly replaced second text)
    # Segment ids as the tokenizer's own pair template makes them, and all zeros for single texts.
    encoded = tokenizer(
        ["good movie", "fun"], ["a bad plot", "the story was boring"], padding=True, return_tensors="np"
    )
    np.testing.assert_array_equal(
        single.segment_ids(encoded["input_ids"], encoded["attention_mask"]), encoded["token_type_ids"]
    )
    one = tokenizer(["good movie"], return_tensors="np")
    assert not single.segment_ids(one["input_ids"], one["attention_mask"]).any()
    roberta = single.for_pairs(2).frame(body[:4], np.full(4, 12))[0]
    assert all((row == single.sep).sum() == 3 for row in roberta)  # <s> a </s></s> b </s>


def test_the_task_shape_is_detected_or_given(tmp_path):
    assert input_kind({"id2label": {"0": "entailment", "1": "neutral", "2": "contradiction"}}) == "pair"
    assert input_kind({"id2label": {"0": "not_equivalent", "1": "equivalent"}}) == "pair"
    assert input_kind({"id2label": {"0": "negative", "1": "positive"}}) == "single"
    assert input_kind({"id2label": {"0": "LABEL_0"}, "asdfd_input": "pair"}) == "pair"
    assert input_kind({"id2label": {"0": "entailment"}}, "single") == "single"
    with pytest.raises(ConfigError, match="auto, single or pair"):
        input_kind({}, "triple")


def test_segment_offsets_folded_into_embeddings_equal_token_type_ids(pair_teacher):
    teacher = load_teacher(pair_teacher)
    assert teacher.pairs and teacher.uses_segments
    body = torch.randint(5, 99, (8, 14), generator=torch.Generator().manual_seed(0))
    ids, mask = (torch.from_numpy(x) for x in teacher.special.frame(body.numpy(), np.full(8, 14)))
    with torch.no_grad():
        folded = teacher.model(inputs_embeds=teacher.embed_ids(ids), attention_mask=mask).logits
        direct = teacher.model(input_ids=ids, attention_mask=mask, token_type_ids=segment_ids(ids, teacher.special.sep))
        unsegmented = teacher.model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(folded, direct.logits, atol=1e-5, rtol=0)
    assert not torch.allclose(folded, unsegmented, atol=1e-4)  # the segment ids do change the output


def test_pair_teacher_round_trip_keeps_segment_ids(tmp_path, pair_teacher, pair_tsv):
    run = json.loads(json.dumps(TINY_RUN))
    run["distill"]["student"] = {"num_layers": 2}
    plan = plan_run(  # fp32, so the runtime must match PyTorch closely
        pair_teacher,
        tmp_path / "student.onnx",
        file_options=run,
        flag_options={
            "eval_file": pair_tsv,
            "distill": {"text_column": "sentence1,sentence2"},
            "export": {"quantize": "none"},
        },
    )
    result = run_pipeline(plan)
    assert result.stages == {"distill": "ran", "export": "ran", "bench": "ran"}
    summary = json.loads((plan.student_dir / "distill.json").read_text())
    assert summary["input_kind"] == "pair" and 0 <= summary["metrics"]["eval_accuracy"] <= 1
    student_config = json.loads((plan.student_dir / "config.json").read_text())
    assert student_config["asdfd_input"] == "pair"
    student = AutoModelForSequenceClassification.from_pretrained(plan.student_dir)
    teacher = AutoModelForSequenceClassification.from_pretrained(pair_teacher)
    torch.testing.assert_close(  # frozen while distilling: the folded offsets stay exact
        student.bert.embeddings.token_type_embeddings.weight, teacher.bert.embeddings.token_type_embeddings.weight
    )

    classifier = Classifier.load(plan.out)
    assert classifier.pairs and "token_type_ids" in classifier.input_names
    tokenizer = AutoTokenizer.from_pretrained(plan.student_dir)
    encoded = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, return_tensors="pt")
    with torch.no_grad():
        reference = torch.softmax(student(**encoded).logits, -1).numpy()
        zeroed = torch.softmax(student(**{**encoded, "token_type_ids": 0 * encoded["token_type_ids"]}).logits, -1)
    np.testing.assert_allclose(classifier.predict_proba(PAIRS), reference, atol=1e-4)
    assert np.abs(zeroed.numpy() - reference).max() > 1e-2  # so matching means the segment ids went through

    report = json.loads(result.paths["report_json"].read_text())
    assert report["config"]["text_column"] == "sentence1,sentence2"
    # The data-free estimate is fitted on single texts: a pair teacher gets "unknown", the reason and what to do.
    estimate = report["estimate"]
    assert estimate["status"] == "unknown" and estimate["expected_retention"] is None
    assert any("sentence pairs" in why for why in estimate["why"])
    assert any("--eval-file" in note for note in report["notes"])
    # and the pair relations as its input forms, their shares in the report
    assert set(report["distillation"]["forms"]) == {"edit", "hypothesis", "reorder", "unrelated", "swap"}


def test_the_wrong_kind_of_input_is_one_line(tmp_path, pair_teacher, tiny_teacher_dir, pair_tsv):
    from asdfd.export import ExportConfig, export_onnx

    export_onnx(tiny_teacher_dir, tmp_path / "single.onnx", ExportConfig(quantize="none", show_progress=False))
    single = Classifier.load(tmp_path / "single.onnx")
    with pytest.raises(DataError, match="this model classifies single texts, not pairs"):
        single.predict([("good movie", "a good film")])
    out = tmp_path / "s.onnx"
    run = json.loads(json.dumps(TINY_RUN))
    plan = plan_run(pair_teacher, out, file_options=run, flag_options={"export": {"quantize": "none"}})
    run_pipeline(plan)
    pairs = Classifier.load(out)
    with pytest.raises(DataError, match=r"this model classifies sentence pairs: pass \(text_a, text_b\) tuples"):
        pairs.predict(["good movie"])
    with pytest.raises(
        ConfigError, match="--method asdfd guesses embeddings of single texts.*for a sentence-pair teacher"
    ):
        distill(pair_teacher, tmp_path / "a", DistillConfig(method="asdfd", steps=1, show_progress=False))
    data = read_labelled_file(pair_tsv, text_column="sentence1,sentence2")
    assert isinstance(data.texts[0], tuple) and len(data.texts) == 16
    with pytest.raises(DataError, match="name one column, or two"):
        read_labelled_file(pair_tsv, text_column="sentence1,sentence2,label")


def test_roberta_pairs_use_double_separators_and_no_segments(tmp_path):
    teacher_dir = build_tiny_roberta(tmp_path / "roberta", num_hidden_layers=2, **PAIR_LABELS)
    teacher = load_teacher(teacher_dir)
    assert teacher.pairs and teacher.special.pair_separators == 2 and not teacher.uses_segments
    result = distill(
        teacher_dir, tmp_path / "s", DistillConfig(steps=2, batch_size=4, student=StudentConfig(num_layers=1))
    )
    assert json.loads((result.student_dir / "distill.json").read_text())["input_kind"] == "pair"


def test_examples_take_pairs(tmp_path, pair_teacher):
    out = tmp_path / "s.onnx"
    run_pipeline(plan_run(pair_teacher, out, file_options=json.loads(json.dumps(TINY_RUN))))
    expected = Classifier.load(out).predict(PAIRS)
    lines = "".join(f"{a}\t{b}\n" for a, b in PAIRS)
    stdin = subprocess.run(
        [sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", str(out)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stdin.returncode == 0, stdin.stderr
    assert [line.split("\t")[0] for line in stdin.stdout.splitlines()] == [p.label for p in expected]
    bad = subprocess.run(
        [sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", str(out)],
        input="no tab here\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "write text_a<TAB>text_b per line" in bad.stderr

    spec = importlib.util.spec_from_file_location("serve_http_pairs", EXAMPLES / "serve_http.py")
    serve_http = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve_http)
    from tests.runtime.test_serve_http import classify, running

    with running(serve_http, Classifier.load(out), max_texts=4, max_body_bytes=200_000) as server:
        port = server.server_address[1]
        status, payload = classify(port, json.dumps({"pairs": [list(p) for p in PAIRS]}).encode())
        assert status == 200 and [p["label"] for p in payload["predictions"]] == [p.label for p in expected]
        status, payload = classify(port, json.dumps({"texts": ["good movie"]}).encode())
        assert status == 400 and "this model classifies sentence pairs" in payload["error"]
        status, payload = classify(port, json.dumps({"pairs": [["only one"]]}).encode())
        assert status == 400 and "pair #0 is not a list of two strings" in payload["error"]
