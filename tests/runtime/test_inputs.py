"""Bad inputs to the deployable runtime: one clear error each."""

from __future__ import annotations

import json
import shutil

import pytest

from asdfd.core.errors import ConfigError, DataError, ModelLoadError
from asdfd.runtime import Classifier


def test_runtime_inputs_get_one_clear_error(tiny_teacher_onnx):
    from asdfd.core.errors import DataError, ModelLoadError
    from asdfd.runtime import Classifier

    classifier = Classifier.load(tiny_teacher_onnx)
    for texts, message in (
        (["ok", "bad \ud800 text"], "not valid Unicode"),
        ({"a": 1}, "got dict"),
        ("one string", "single string"),
        ([], "no texts"),
        ([b"bytes"], "not str"),
        ({"a", "b"}, "got set"),
        (42, "got int"),
    ):
        with pytest.raises(DataError, match=message):
            classifier.predict(texts)
    with pytest.raises(ModelLoadError, match="expected the path"):
        Classifier.load(None)


def test_metadata_max_length_beyond_the_positions_is_refused(tiny_teacher_onnx, tmp_path):
    import shutil

    from asdfd.core.errors import ModelLoadError
    from asdfd.export.package import embed_metadata
    from asdfd.runtime import Classifier
    from asdfd.runtime import metadata as keys

    path = tmp_path / "edited.onnx"
    shutil.copyfile(tiny_teacher_onnx, path)
    embed_metadata(path, {keys.MAX_LENGTH: "512", keys.MAX_POSITIONS: "64"})
    with pytest.raises(ModelLoadError, match="position embeddings cover 64"):
        Classifier.load(path)


def test_sessions_turn_onnxruntime_telemetry_off(tiny_teacher_onnx, monkeypatch):
    import onnxruntime as ort

    from asdfd.runtime.classifier import make_session

    calls = []
    monkeypatch.setattr(ort, "disable_telemetry_events", lambda: calls.append(1))
    make_session(tiny_teacher_onnx)
    assert calls


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: Classifier.load(p, threads=1.5), "threads must be a whole number, got 1.5"),
        (lambda p: Classifier.load(p, threads=10**6), "threads must be between 1 and"),
        (lambda p: Classifier.load(p, threads=True), "threads must be a whole number"),
        (lambda p: Classifier.load(p, threshold="0.3"), "threshold must be a number in \\(0, 1\\), got '0.3'"),
        (lambda p: Classifier.load(p).predict(["x"], batch_size=1.5), "batch_size must be a whole number, got 1.5"),
        (lambda p: Classifier.load(p).predict(["x"], batch_size=10**9), "batch_size must be between 1 and"),
        (lambda p: Classifier.load(p).predict(["x"], threshold=float("nan")), "threshold must be in \\(0, 1\\)"),
    ],
)
def test_wrong_argument_types_and_sizes_get_one_line(tiny_teacher_onnx, call, message):
    with pytest.raises((ConfigError, DataError), match=message):
        call(tiny_teacher_onnx)


def test_huge_texts_are_cut_before_tokenizing(tiny_teacher_onnx):
    from asdfd.runtime.encoding import CHARS_PER_TOKEN

    clf = Classifier.load(tiny_teacher_onnx)
    words = "a fine film with a plot " * 10_000
    clipped = clf.encoder.clip(words)
    assert len(words) > clf.max_length * CHARS_PER_TOKEN >= len(clipped)
    assert words.startswith(clipped + " ")  # cut at a word boundary
    assert clf.encoder.token_ids([words]) == clf.encoder.token_ids([words[:5000]])  # what truncation keeps anyway


def test_tampered_artifacts_are_refused(tiny_teacher_onnx, tmp_path, set_metadata):
    from asdfd.runtime import metadata as keys

    cases = [
        ({keys.HEAD: "score"}, "says its head is score but has 2 outputs"),
        ({keys.ID2LABEL: json.dumps({"0": "same", "1": "same"})}, "names \\['same'\\] more than once"),
    ]
    for index, (edit, message) in enumerate(cases):
        path = tmp_path / f"edited{index}.onnx"
        shutil.copyfile(tiny_teacher_onnx, path)
        set_metadata(path, edit)
        with pytest.raises(ModelLoadError, match=message):
            Classifier.load(path)


def test_an_artifact_whose_tokenizer_outruns_its_graph_fails_in_one_line(tiny_teacher_onnx, tmp_path, set_metadata):
    from asdfd.runtime import metadata as keys

    reference = Classifier.load(tiny_teacher_onnx)
    tokenizer = json.loads(reference.info.tokenizer_json)
    vocab = tokenizer["model"]["vocab"]
    vocab["zzzbeyond"] = 99_999
    path = tmp_path / "foreign.onnx"
    shutil.copyfile(tiny_teacher_onnx, path)
    set_metadata(path, {keys.TOKENIZER_JSON: json.dumps(tokenizer)})
    with pytest.raises(ModelLoadError, match="failed on this input .*the artifact is inconsistent"):
        Classifier.load(path).predict(["zzzbeyond"])
