"""Metadata inside the .onnx (the runtime contract) and the folder layout Optimum loads."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from asdfd.export.package import hash_model_folder
from asdfd.runtime import metadata as keys


def custom_metadata(path) -> dict[str, str]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def test_metadata_round_trips_labels_tokenizer_and_inputs(int8_export, tiny_teacher_dir):
    meta = custom_metadata(int8_export.path)
    assert meta[keys.FORMAT] == keys.FORMAT_VERSION
    assert json.loads(meta[keys.ID2LABEL]) == {"0": "negative", "1": "positive"}
    assert int(meta[keys.MAX_LENGTH]) == 64  # 128 requested, capped at the tiny model's positions
    assert meta[keys.VARIANT] == int8_export.variant
    session = ort.InferenceSession(str(int8_export.path), providers=["CPUExecutionProvider"])
    assert json.loads(meta[keys.INPUT_NAMES]) == [i.name for i in session.get_inputs()]
    # The embedded tokenizer encodes exactly like the folder's tokenizer.
    embedded = Tokenizer.from_str(meta[keys.TOKENIZER_JSON])
    reference = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    for text in ["good movie", "the plot was not very fun but the actor is great"]:
        assert embedded.encode(text).ids == reference(text)["input_ids"]
    assert len(embedded.encode("good " * 200).ids) == 64  # truncates to max length


def test_provenance_records_source_versions_options_and_figures(int8_export, tiny_teacher_dir):
    provenance = json.loads(custom_metadata(int8_export.path)[keys.PROVENANCE])
    assert provenance["source"]["sha256"] == hash_model_folder(tiny_teacher_dir)
    assert provenance["source"]["model_type"] == "bert"
    assert {"torch", "transformers", "onnxruntime", "optimum-onnx"} <= set(provenance["versions"])
    assert provenance["options"]["quantize"] == "int8" and provenance["options"]["opset"] == 18
    assert "optimum-onnx" in provenance["exporter"]
    assert provenance["fusions"]["attention"] == 2
    assert provenance["validation"]["final"]["agreement"] >= 0.9
    assert provenance["validation"]["fp32"]["max_abs_diff"] <= 1e-4
    assert provenance["variant"] == int8_export.variant
    assert provenance["cpu"]["preset_family"] in ("avx2", "avx512_vnni", "arm64")
    assert provenance["validation_set"] == int8_export.validation_set
    assert int8_export.validation_set["name"] == "default" and int8_export.validation_set["num_samples"] == 32


def test_result_to_dict_is_json(int8_export):
    data = json.loads(json.dumps(int8_export.to_dict()))
    assert data["path"] == str(int8_export.path) and data["validation"]["final"]["passed"]


def test_optimum_loads_the_folder_layout_and_agrees(folder_export):
    from optimum.onnxruntime import ORTModelForSequenceClassification

    folder = folder_export.folder
    assert folder_export.path == folder / "model.onnx"
    assert {"model.onnx", "config.json", "tokenizer.json", "export_report.json"} <= {p.name for p in folder.iterdir()}
    model = ORTModelForSequenceClassification.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoded = tokenizer(["good movie", "the story was boring and bad"], padding=True, return_tensors="np")
    optimum_logits = np.asarray(model(**encoded).logits)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    direct = session.run(["logits"], {i.name: encoded[i.name] for i in session.get_inputs()})[0]
    np.testing.assert_allclose(optimum_logits, direct, atol=1e-6)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert custom_metadata(folder / "model.onnx")[keys.ID2LABEL]  # the file in the folder is self-contained too
    report = json.loads((folder / "export_report.json").read_text())
    assert report["config"]["quantize"] == "int8"
