"""Students in JavaScript: the export folder's transformers.js layout (export/web_layout.py), the same folder run by
transformers.js in Node (onnxruntime-node) and in headless Chromium (onnxruntime-web, wasm), checked against
asdfd.runtime.Classifier on the same texts: fp32 probabilities within 1e-4, int8 the same labels.

`js/` is installed with `npm ci` (pinned package.json + package-lock.json) when js/node_modules is missing or older
than the lockfile. Skipped without node/npm; the browser test also without a Chromium (`apt-get install chromium`).
`make test` runs the layout checks, the single-label Node case and the Node example; `make test-slow` the heads,
pairs and the browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from asdfd.runtime import Classifier
from tests.js import support
from tests.js.support import TEXTS, Student, build_student, python_results

EXAMPLES_JS = Path(__file__).resolve().parents[1] / "examples" / "js"
FP32_ATOL = 1e-4


# -- the layout (no Node needed) ------------------------------------------------------------------------------------


def _folder(tmp_path: Path, config: dict, name: str = "export") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"int8 graph")
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}), encoding="utf-8")
    return folder


def test_web_layout_links_the_graphs_and_completes_config(tmp_path):
    from asdfd.export.web_layout import add_web_layout

    folder = _folder(tmp_path, {"num_labels": 2, "id2label": {0: "negative", 1: "positive"}})
    fp32 = tmp_path / "scratch-fp32.onnx"
    fp32.write_bytes(b"fp32 graph")
    written = add_web_layout(folder, fp32=fp32, int8=folder / "model.onnx", max_length=128)
    assert written == ["onnx/model.onnx", "onnx/model_quantized.onnx", "config.json", "tokenizer_config.json"]
    # One copy of each graph: hard links, not copies.
    assert os.path.samefile(folder / "onnx" / "model_quantized.onnx", folder / "model.onnx")
    assert os.path.samefile(folder / "onnx" / "model.onnx", fp32)
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    assert "problem_type" not in config and config["transformers.js_config"] == {"dtype": "q8"}
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == 128
    # Again (a re-run on the same folder) changes nothing but config.json, which stays the same.
    assert add_web_layout(folder, fp32=fp32, int8=folder / "model.onnx", max_length=128) == written[:3]
    assert json.loads((folder / "config.json").read_text()) == config


def test_web_layout_heads_fp32_only_and_copy_fallback(tmp_path, monkeypatch):
    from asdfd.core.errors import ModelLoadError
    from asdfd.export import web_layout

    multi = {"problem_type": "multi_label_classification", "id2label": {"0": "a", "1": "b", "2": "c"}}
    folder = _folder(tmp_path, multi)
    # --quantize none: model.onnx is the fp32 graph; no q8 file, so the default dtype must be fp32 (the browser's
    # own default, q8, would look for a file that is not there).
    assert web_layout.add_web_layout(folder, fp32=folder / "model.onnx") == ["onnx/model.onnx", "config.json"]
    config = json.loads((folder / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification" and config["label2id"] == {"a": 0, "b": 1, "c": 2}
    assert config["transformers.js_config"] == {"dtype": "fp32"}
    assert not (folder / "onnx" / "model_quantized.onnx").exists()

    score = web_layout.web_config({"num_labels": 1})
    assert score["id2label"] == {"0": "LABEL_0"} and score["problem_type"] == "regression"
    own = web_layout.web_config({"id2label": {"0": "x", "1": "y"}, "transformers.js_config": {"dtype": "fp16"}}, "q8")
    assert own["transformers.js_config"] == {"dtype": "fp16"}  # the user's own setting is kept
    missing = web_layout.web_config(
        {"id2label": {"0": "x"}, "transformers.js_config": {"dtype": "q4"}}, dtypes=("fp32",)
    )
    assert missing["transformers.js_config"] == {"dtype": "fp32"}  # ... unless the folder has no such graph
    with pytest.raises(ModelLoadError, match="regression with 3 outputs"):
        web_layout.web_config({"problem_type": "regression", "num_labels": 3})

    def no_links(source, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(web_layout.os, "link", no_links)
    other = _folder(tmp_path, {"id2label": {"0": "x", "1": "y"}}, name="other")
    web_layout.add_web_layout(other, fp32=folder / "model.onnx", int8=other / "model.onnx")
    assert (other / "onnx" / "model.onnx").read_bytes() == b"int8 graph"  # copied (the fp32 stand-in's bytes)
    assert not os.path.samefile(other / "onnx" / "model_quantized.onnx", other / "model.onnx")
    with pytest.raises(FileNotFoundError, match="no such graph"):
        web_layout.add_web_layout(other, fp32=tmp_path / "missing.onnx")


# -- Node and the browser -------------------------------------------------------------------------------------------

needs_node = pytest.mark.skipif(support.node_tools_missing() is not None, reason=str(support.node_tools_missing()))


@pytest.fixture(scope="module")
def js_installed() -> float:
    """js/ installed (npm ci when needed); the seconds the install took (0: it was current)."""
    try:
        return support.ensure_js_installed()
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"installing js/ failed: {error}", pytrace=False)


@pytest.fixture(scope="module")
def single_student(tmp_path_factory) -> Student:
    return build_student("single", tmp_path_factory.mktemp("js-single"))


@pytest.fixture(scope="module")
def students(single_student, tmp_path_factory) -> dict[str, Student]:
    base = tmp_path_factory.mktemp("js-students")
    students = {"single": single_student, **{kind: build_student(kind, base) for kind in ("multi", "score", "pair")}}
    # --quantize auto may choose static int8 (QLinearMatMul, QuantizeLinear): the same q8 file name serves it.
    students["static"] = build_student("single", base / "static", quantize="int8-static")
    return students


def _cases(students: dict[str, Student], *, browser: bool = False) -> list[dict]:
    """Every student in fp32 and q8, and the single-label one with no dtype (the folder's default: q8). The folder is
    its path for Node, its name under /models/ for the page."""
    cases = []
    for name, student in students.items():
        folder = name if browser else str(student.folder)
        for dtype in ("fp32", "q8"):
            cases.append({"name": f"{name}-{dtype}", "folder": folder, "dtype": dtype, "items": student.items})
        if name == "single":
            cases.append({"name": "single-default", "folder": folder, "dtype": None, "items": student.items})
    return cases


def _check(students: dict[str, Student], results: dict, where: str) -> None:
    """`results` (check.mjs / page.html) against asdfd.runtime.Classifier, case by case."""
    for name, student in students.items():
        expected = python_results(student)
        for dtype in ("fp32", "q8") + (("default",) if name == "single" else ()):
            got = results[f"{name}-{dtype}"]
            want = expected["q8" if dtype == "default" else dtype]
            label = f"{where}: {name} {dtype}"
            assert got["dtype"] == ("q8" if dtype == "default" else dtype), label  # the graph it really loaded
            _check_one(student, got, want, exact=dtype == "fp32", label=label)


def _check_one(student: Student, got: dict, want: dict, *, exact: bool, label: str) -> None:
    predictions = want["predictions"]
    js = got["predictions"]
    assert len(js) == len(predictions), label
    assert [p["labels"] for p in js] == [list(p.labels) for p in predictions], label  # int8 and fp32: same labels
    assert [p["label"] for p in js] == [p.label for p in predictions], label
    if student.kind == "score":
        tolerance = FP32_ATOL if exact else 1e-3
        np.testing.assert_allclose(
            [p["score"] for p in js], [p.score for p in predictions], atol=tolerance, err_msg=label
        )
        return
    if exact:
        js_probs = np.array([[p["scores"][name] for name in predictions[0].scores] for p in js])
        py_probs = np.array([list(p.scores.values()) for p in predictions])
        np.testing.assert_allclose(js_probs, py_probs, atol=FP32_ATOL, err_msg=label)
        np.testing.assert_allclose(np.array(got["logits"]), want["logits"], atol=1e-4, err_msg=label)
    if got["pipeline"] is not None:  # transformers.js' own text-classification pipeline (single texts)
        for row, prediction in zip(got["pipeline"], predictions):
            assert row[0]["label"] == prediction.label, label
            if exact:
                scores = {item["label"]: item["score"] for item in row}
                np.testing.assert_allclose(
                    [scores[n] for n in prediction.scores],
                    list(prediction.scores.values()),
                    atol=FP32_ATOL,
                    err_msg=label,
                )


@needs_node
def test_node_single_label_matches_python(js_installed, single_student, tmp_path):
    """The make-test case: one folder, fp32 / q8 / the default dtype, through the direct call and the pipeline."""
    # The fused CPU graphs, contrib ops included, are what transformers.js runs (no variant of its own).
    ops = single_student.contrib_ops()
    assert {"Attention", "EmbedLayerNormalization"} <= ops["fp32"] and {"QAttention"} <= ops["q8"], ops
    students = {"single": single_student}
    results = support.run_node(_cases(students), tmp_path)
    _check(students, results, "node")


@needs_node
@pytest.mark.slow
def test_node_heads_and_pairs_match_python(js_installed, students, tmp_path):
    """Multi-label (sigmoid per label, threshold 0.5), a score head (raw output) and sentence pairs (the tokenizer's
    text_pair + a direct model call), fp32 and int8."""
    results = support.run_node(_cases(students), tmp_path)
    assert results["multi-fp32"]["head"] == "multi_label" and results["score-fp32"]["head"] == "score"
    _check(students, results, "node")


@needs_node
@pytest.mark.slow
def test_browser_matches_python(js_installed, students, tmp_path):
    """Headless Chromium opens a page from 127.0.0.1 that loads the same folders with transformers.js on
    onnxruntime-web (wasm; the fused graphs' contrib ops included) and classifies the same items."""
    chromium = support.find_chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH: apt-get install -y chromium")
    models = {name: student.folder for name, student in students.items()}
    answer = support.run_page(chromium, models, _cases(students, browser=True), tmp_path)
    assert answer.get("ok"), answer.get("error")
    _check(students, answer["results"], "chromium")


@needs_node
def test_node_example_classifies_stdin(js_installed, single_student, tmp_path):
    """examples/js/classify_stdin.mjs, copied beside a node_modules as an application would have it: one output line
    per input line, the labels the Python runtime gives; a folder without onnx/ is one line of error."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(EXAMPLES_JS / "classify_stdin.mjs", app / "classify_stdin.mjs")
    (app / "node_modules").symlink_to(support.JS / "node_modules", target_is_directory=True)
    lines = [TEXTS[0], "", TEXTS[1], TEXTS[2]]
    script = ["node", str(app / "classify_stdin.mjs"), "--model", str(single_student.folder)]
    result = subprocess.run(script, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout.split("\n")[:-1]
    assert len(out) == len(lines) and out[1] == ""
    expected = python_results(single_student)["q8"]["predictions"][:3]  # TEXTS[:3], the lines' texts
    assert [row.split("\t")[0] for row in out if row] == [p.label for p in expected]
    assert [row.split("\t")[2] for row in out if row] == [line for line in lines if line]

    old = tmp_path / "old-export"
    shutil.copytree(single_student.folder, old, ignore=shutil.ignore_patterns("onnx"))
    result = subprocess.run([*script[:-1], str(old)], input="x\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.startswith("Error: "), result.stderr
    assert "compress export" in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr


_TYPE = """new Promise((resolve) => {
    const result = document.getElementById('result');
    new MutationObserver(() => resolve({
        label: result.dataset.label,
        scores: Object.fromEntries([...result.children].map((row) => [row.dataset.label, Number(row.dataset.value)])),
    })).observe(result, { childList: true });
    const box = document.getElementById('text');
    box.value = %s;
    box.dispatchEvent(new Event('input'));
})"""


@needs_node
@pytest.mark.slow
def test_browser_example_page_classifies_what_the_user_types(js_installed, single_student, tmp_path):
    """examples/js/index.html served by examples/js/serve.mjs (127.0.0.1, an OS-chosen port) in headless Chromium:
    the page loads the folder's default graph (q8) and shows, for each text typed, the Python runtime's label and
    probabilities."""
    chromium = support.find_chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH: apt-get install -y chromium")
    app = tmp_path / "app"
    app.mkdir()
    for name in ("index.html", "serve.mjs"):
        shutil.copy(EXAMPLES_JS / name, app / name)
    (app / "node_modules").symlink_to(support.JS / "node_modules", target_is_directory=True)
    server = subprocess.Popen(
        ["node", str(app / "serve.mjs"), "--model", str(single_student.folder), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().split()[0]
        assert url.startswith("http://127.0.0.1:"), url
        # One text per model call, as the page makes them (dynamic int8 quantizes activations per batch: a text's
        # int8 probabilities shift a little with the texts padded beside it; fp32's do not).
        classifier = Classifier.load(single_student.folder / "model.onnx")
        expected = [classifier.predict([text])[0] for text in TEXTS[:3]]
        with support.DevTools(chromium, tmp_path) as browser:
            browser.open(url)
            browser.wait_for("document.body.dataset.ready === 'true'", timeout=60)
            assert "(q8)" in browser.evaluate("document.getElementById('status').textContent")
            for text, want in zip(TEXTS[:3], expected):
                shown = browser.evaluate(_TYPE % json.dumps(text))
                assert shown["label"] == want.label, text
                np.testing.assert_allclose(
                    [shown["scores"][name] for name in want.scores], list(want.scores.values()), atol=1e-3
                )
    finally:
        server.terminate()
        server.wait(timeout=10)


@needs_node
def test_bench_script_runs(js_installed, single_student, tmp_path):
    """js/bench.mjs (benchmarks/bench_js.py's Node side) on a handful of calls: the fields the driver reads. A smoke
    test, no figures."""
    spec = {
        "folder": str(single_student.folder),
        "dtype": "q8",
        "threads": 1,
        "ids": {"input_ids": [2, *range(10, 72), 3], "attention_mask": [1] * 64, "token_type_ids": [0] * 64},
        "texts": TEXTS,
        "runs": 3,
        "warmup": 1,
        "repeats": 1,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run(
        ["node", str(support.JS / "bench.mjs"), str(tmp_path / "spec.json")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["tokens"] == 64 and result["graph_1x64_ms"]["n"] == 3 and result["dtype"] == "q8"
    assert result["dev_e2e"]["texts"] == len(TEXTS) and result["dev_e2e"]["texts_per_s"] > 0
    assert "onnxruntime-node 1.30.0" in result["runtime"]


def test_the_exporter_writes_the_web_layout(single_student):
    """`compress export --out DIR/` itself lays out onnx/: the int8 graph is one file under two names, the fp32 graph
    carries the runtime's metadata (so every graph in the folder loads in Python too)."""
    from asdfd.runtime import Classifier

    folder = single_student.folder
    assert os.path.samefile(folder / "onnx" / "model_quantized.onnx", folder / "model.onnx")
    fp32 = Classifier.load(folder / "onnx" / "model.onnx")
    assert fp32.info.provenance and fp32.labels == Classifier.load(folder).labels
    assert json.loads((folder / "config.json").read_text())["transformers.js_config"] == {"dtype": "q8"}


@needs_node
def test_readme_js_block_runs(js_installed, single_student, tmp_path):
    """README's transformers.js snippet, run as written in Node against a tiny exported folder."""
    from tests.doc_blocks import ROOT, fenced_blocks

    blocks = [body for lang, body in fenced_blocks((ROOT / "README.md").read_text(encoding="utf-8")) if lang == "js"]
    assert blocks, "README.md has no js block"
    app = tmp_path / "app"
    app.mkdir()
    (app / "node_modules").symlink_to(support.JS / "node_modules", target_is_directory=True)
    shutil.copytree(single_student.folder, app / "student.run" / "export")
    for index, body in enumerate(blocks):
        (app / f"readme{index}.mjs").write_text(body, encoding="utf-8")
        result = subprocess.run(["node", f"readme{index}.mjs"], cwd=app, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "label" in result.stdout and "score" in result.stdout, result.stdout
