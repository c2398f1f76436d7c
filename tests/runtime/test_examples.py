"""examples/classify_stdin.py works against a real artifact (examples/serve_http.py: test_serve_http.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from asdfd.runtime import Classifier

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_classify_stdin_keeps_line_order(tiny_teacher_onnx):
    lines = ["good movie", "", "the plot was boring", "fun film"]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", str(tiny_teacher_onnx), "--batch-size", "2"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout.split("\n")[:-1]
    assert len(out) == len(lines) and out[1] == ""
    expected = Classifier.load(tiny_teacher_onnx).predict([line for line in lines if line])
    assert [row.split("\t")[0] for row in out if row] == [p.label for p in expected]
    assert [row.split("\t")[2] for row in out if row] == [line for line in lines if line]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", "missing.onnx"],
        input="x\n",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and result.stderr.startswith("Error: model missing.onnx does not exist")
