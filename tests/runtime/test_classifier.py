"""Classifier: parity with PyTorch, both artifact layouts, thread safety, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from asdfd.core.errors import DataError, ModelLoadError
from asdfd.runtime import Classifier, Prediction, metadata

TEXTS = [
    "good movie",
    "the plot was boring and not fun",
    "a",
    "great actor but awful story " * 20,
    "it is very bad",
    "fun film",
    "the the the",
    "w3 w7 w12 unknownword",
]


def pytorch_logits(model_dir, texts, max_length=64):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits.numpy()


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_logits_match_pytorch(tiny_teacher_dir, tiny_teacher_onnx, batch_size):
    clf = Classifier.load(tiny_teacher_onnx, threads=1)
    expected = pytorch_logits(tiny_teacher_dir, TEXTS)
    # batch 3 sorts by length and pads per batch: results must still come back in input order
    np.testing.assert_allclose(clf.predict_logits(TEXTS, batch_size=batch_size), expected, atol=1e-4, rtol=1e-4)
    assert clf.max_length == 64
    assert len(clf.encoder.token_ids([TEXTS[3]])[0]) == 64  # the long text was truncated, not rejected


def test_predict_returns_label_score_and_vector(tiny_teacher_onnx):
    clf = Classifier.load(tiny_teacher_onnx)
    probabilities = clf.predict_proba(TEXTS)
    assert probabilities.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    predictions = clf.predict(TEXTS, batch_size=4)
    assert all(isinstance(p, Prediction) for p in predictions)
    for p, row in zip(predictions, probabilities):
        assert p.label == clf.labels[int(row.argmax())]
        assert p.score == pytest.approx(row.max()) and p.score == max(p.scores.values())
        assert list(p.scores) == ["negative", "positive"]


def test_folder_layout_falls_back_to_config_and_tokenizer(tiny_folder_artifact, tiny_teacher_onnx):
    folder_clf = Classifier.load(tiny_folder_artifact)
    file_clf = Classifier.load(tiny_teacher_onnx)
    assert folder_clf.labels == ("negative", "positive")
    assert folder_clf.max_length == 64  # from tokenizer_config.json / max_position_embeddings
    np.testing.assert_allclose(folder_clf.predict_logits(TEXTS), file_clf.predict_logits(TEXTS), atol=1e-6)


def test_predict_is_thread_safe(tiny_teacher_onnx):
    clf = Classifier.load(tiny_teacher_onnx, threads=1)
    texts = [f"{TEXTS[i % len(TEXTS)]} w{i % 50}" for i in range(64)]
    expected = clf.predict_logits(texts, batch_size=8)
    clf.predict_logits(texts[:3])
    assert len(clf.encoder._idle) == 1  # sequential use reuses one tokenizer instance
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: clf.predict_logits(texts, batch_size=8), range(32)))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)
    assert 1 <= len(clf.encoder._idle) <= 8  # at most one instance per concurrent thread, all returned


@pytest.mark.parametrize(
    "texts, message",
    [
        ([], "no texts"),
        ("good movie", "single string"),
        (["ok", 3], "text #1 is int"),
        ([None], "text #0 is NoneType"),
        (42, "expected a list of texts"),
    ],
)
def test_bad_texts_give_clear_errors(tiny_teacher_onnx, texts, message):
    clf = Classifier.load(tiny_teacher_onnx)
    with pytest.raises(DataError, match=message):
        clf.predict(texts)
    with pytest.raises(DataError, match="batch_size"):
        clf.predict(["ok"], batch_size=0)


def test_missing_and_corrupt_files(tmp_path, tiny_teacher_onnx):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Classifier.load(tmp_path / "nope.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(tiny_teacher_onnx.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match=r"cannot load .*\(corrupt or incomplete\?\): .*Protobuf"):
        Classifier.load(truncated)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no .onnx file"):
        Classifier.load(tmp_path / "empty")
    with pytest.raises(ModelLoadError, match="not available"):
        Classifier.load(tiny_teacher_onnx, providers=["NoSuchExecutionProvider"])


def test_missing_or_corrupt_metadata(tmp_path, tiny_teacher_dir, tiny_teacher_onnx, set_metadata):
    write_metadata = set_metadata
    import onnx

    bare = tmp_path / "bare.onnx"
    model = onnx.load(str(tiny_teacher_onnx))
    del model.metadata_props[:]
    onnx.save(model, str(bare))
    with pytest.raises(ModelLoadError, match="no label names"):
        Classifier.load(bare)
    write_metadata(bare, {metadata.ID2LABEL: json.dumps({"0": "neg", "1": "pos"})})
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        Classifier.load(bare)
    write_metadata(bare, {metadata.ID2LABEL: "{not json"})
    with pytest.raises(ModelLoadError, match="corrupt label map"):
        Classifier.load(bare)
    tokenizer_json = (tiny_teacher_dir / "tokenizer.json").read_text()
    write_metadata(
        bare, {metadata.ID2LABEL: json.dumps({"0": "a", "1": "b", "2": "c"}), metadata.TOKENIZER_JSON: tokenizer_json}
    )
    with pytest.raises(ModelLoadError, match="outputs 2 scores but names 3 labels"):
        Classifier.load(bare)
    write_metadata(bare, {metadata.ID2LABEL: json.dumps({"0": "a", "1": "b"}), metadata.TOKENIZER_JSON: "{}"})
    with pytest.raises(ModelLoadError, match="tokenizer.json cannot be loaded"):
        Classifier.load(bare)
    newer = tmp_path / "newer.onnx"
    newer.write_bytes(tiny_teacher_onnx.read_bytes())
    write_metadata(newer, {metadata.FORMAT: "99"})
    with pytest.raises(ModelLoadError, match="format '99'"):
        Classifier.load(newer)


def test_runtime_never_imports_torch(tiny_teacher_onnx):
    code = (
        "import sys; from asdfd.runtime import Classifier; "
        f"clf = Classifier.load({str(tiny_teacher_onnx)!r}); clf.predict(['good movie', 'bad']); "
        "print(sorted(m for m in ('torch', 'transformers', 'onnx', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_loads_the_exporters_folder_layout(tiny_teacher_dir, tiny_teacher_onnx, tmp_path):
    """Contract with `compress export`: its folder output loads and predicts like its single-file output."""
    from asdfd.export import ExportConfig, export_onnx

    folder = tmp_path / "exported"
    export_onnx(tiny_teacher_dir, folder, ExportConfig(quantize="none", max_length=64))
    clf = Classifier.load(folder)
    assert clf.info.onnx_path == folder / "model.onnx" and clf.labels == ("negative", "positive")
    np.testing.assert_allclose(
        clf.predict_logits(TEXTS), Classifier.load(tiny_teacher_onnx).predict_logits(TEXTS), atol=1e-4
    )


def _optimized_ops(monkeypatch, tmp_path, open_session) -> set[str]:
    """Op types of the graph onnxruntime actually runs, dumped by the session `open_session()` creates."""
    import onnx
    import onnxruntime as ort

    dumped = tmp_path / "optimized.onnx"
    plain_options = ort.SessionOptions

    def dumping_options():
        options = plain_options()
        options.optimized_model_filepath = str(dumped)
        return options

    monkeypatch.setattr(ort, "SessionOptions", dumping_options)
    open_session()
    monkeypatch.undo()
    return {node.op_type for node in onnx.load(str(dumped)).graph.node}


def test_cpu_sessions_do_not_fuse_skip_layer_norm(tiny_teacher_onnx, monkeypatch, tmp_path):
    import onnxruntime as ort

    from asdfd.runtime.classifier import make_session

    # onnxruntime on its own re-fuses the exported Add + LayerNormalization; our sessions must not
    default = _optimized_ops(
        monkeypatch,
        tmp_path,
        lambda: ort.InferenceSession(str(tiny_teacher_onnx), ort.SessionOptions(), providers=["CPUExecutionProvider"]),
    )
    assert "SkipLayerNormalization" in default
    ours = _optimized_ops(monkeypatch, tmp_path, lambda: make_session(tiny_teacher_onnx, threads=1))
    assert "SkipLayerNormalization" not in ours and "LayerNormalization" in ours
