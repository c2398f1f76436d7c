"""examples/serve_http.py and examples/classify_stdin.py work against a real artifact."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from asdfd.runtime import Classifier

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server_url(tiny_teacher_onnx):
    serve_http = load_example("serve_http")
    server = ThreadingHTTPServer(("127.0.0.1", 0), serve_http.make_handler(Classifier.load(tiny_teacher_onnx), 8))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_http_service_classifies_and_rejects_bad_requests(server_url, tiny_teacher_onnx):
    expected = Classifier.load(tiny_teacher_onnx).predict(["good movie", "bad plot"])
    status, payload = post(f"{server_url}/classify", json.dumps({"texts": ["good movie", "bad plot"]}).encode())
    assert status == 200
    assert [p["label"] for p in payload["predictions"]] == [p.label for p in expected]
    assert payload["predictions"][0]["score"] == pytest.approx(expected[0].score, abs=1e-5)
    for body, message in [(b"{not json", "Expecting property name"), (b'{"texts": []}', "no texts"),
                          (b'{"texts": ["ok", 1]}', "text #1 is int"), (b'["ok"]', "expected a JSON object")]:
        status, payload = post(f"{server_url}/classify", body)
        assert status == 400 and message in payload["error"]
    with urllib.request.urlopen(f"{server_url}/health", timeout=10) as response:
        assert json.loads(response.read())["labels"] == ["negative", "positive"]


def test_classify_stdin_keeps_line_order(tiny_teacher_onnx):
    lines = ["good movie", "", "the plot was boring", "fun film"]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", str(tiny_teacher_onnx), "--batch-size", "2"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    out = result.stdout.split("\n")[:-1]
    assert len(out) == len(lines) and out[1] == ""
    expected = Classifier.load(tiny_teacher_onnx).predict([line for line in lines if line])
    assert [row.split("\t")[0] for row in out if row] == [p.label for p in expected]
    assert [row.split("\t")[2] for row in out if row] == [line for line in lines if line]
    result = subprocess.run([sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", "missing.onnx"],
                            input="x\n", capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.startswith("Error: model missing.onnx does not exist")
