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
