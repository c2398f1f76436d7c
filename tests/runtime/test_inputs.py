"""Bad inputs to the deployable runtime: one clear error each."""

from __future__ import annotations

import pytest


def test_runtime_inputs_get_one_clear_error(tiny_teacher_onnx):
    from asdfd.errors import DataError, ModelLoadError
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

    from asdfd.errors import ModelLoadError
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
