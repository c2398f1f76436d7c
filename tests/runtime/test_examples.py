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


def test_classify_stdin_refuses_bad_lines_in_one_line(tiny_teacher_onnx):
    """A non-UTF-8 line and a --threads beyond any machine each get one line of error, exit 1, no traceback."""
    script = [sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", str(tiny_teacher_onnx)]
    cases = [
        ([], b"fine line\n\xff\xfe broken\n", "Error: input line 2 is not UTF-8 (byte 0)"),
        (["--threads", str(10**6)], b"x\n", "Error: threads must be between 1 and"),
    ]
    for extra, stdin, message in cases:
        result = subprocess.run([*script, *extra], input=stdin, capture_output=True)
        stderr = result.stderr.decode()
        assert result.returncode == 1 and stderr.startswith(message), stderr
        assert "Traceback" not in stderr and stderr.strip().count("\n") == 0, stderr


def test_classify_stdin_reads_a_huge_line_without_tokenizing_all_of_it(tiny_teacher_onnx):
    """A 20 MB line is cut before tokenizing (memory stays bounded), and classified like its first words."""
    huge = ("good movie " * 2_000_000).encode()
    script = [sys.executable, str(EXAMPLES / "classify_stdin.py"), "--model", str(tiny_teacher_onnx)]
    result = subprocess.run(script, input=huge + b"\n", capture_output=True, check=True, timeout=60)
    expected = Classifier.load(tiny_teacher_onnx).predict([("good movie " * 200).strip()])[0]
    assert result.stdout.decode().split("\t")[:2] == [expected.label, f"{expected.score:.4f}"]
