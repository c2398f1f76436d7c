"""No model folder can make the product run code it ships (issue: remote code through a tokenizer auto_map)."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from asdfd.cli import main
from asdfd.core.errors import ModelLoadError
from asdfd.core.model_folder import LOCAL_ONLY, read_classifier_config, refuse_remote_code

REPO = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("asdfd", "compressor", "export", "runtime", "examples")


def _with_auto_map(source: Path, target: Path, file_name: str) -> Path:
    shutil.copytree(source, target)
    path = target / file_name
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data["auto_map"] = {"AutoTokenizer": ["someorg/somerepo--tok.Tok", None]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return target


@pytest.mark.parametrize("file_name", ["tokenizer_config.json", "config.json"])
def test_auto_map_is_refused_in_one_line(tmp_path, tiny_teacher_dir, file_name):
    folder = _with_auto_map(tiny_teacher_dir, tmp_path / "teacher", file_name)
    with pytest.raises(ModelLoadError, match="custom code") as caught:
        read_classifier_config(folder)
    assert file_name in str(caught.value) and "\n" not in str(caught.value)
    refuse_remote_code(tiny_teacher_dir)  # the clean folder passes


@pytest.mark.parametrize(
    "command",
    [
        ["distill", "--teacher", "{t}", "--out", "{o}/student"],
        ["export", "{t}", "--out", "{o}/x.onnx"],
        ["bench", "--teacher", "{t}", "--out", "{o}/report"],
        ["run", "--teacher", "{t}", "--out", "{o}/x.onnx"],
    ],
)
def test_every_command_refuses_custom_code_before_loading(tmp_path, tiny_teacher_dir, command):
    folder = _with_auto_map(tiny_teacher_dir, tmp_path / "teacher", "tokenizer_config.json")
    args = [part.format(t=folder, o=tmp_path) for part in command]
    result = CliRunner().invoke(main, args, input="y\n")  # a "y" to any prompt must not matter
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error:") and "custom code" in lines[-1] and "Traceback" not in result.output
    assert "[y/N]" not in result.output
    assert not any((tmp_path / name).exists() for name in ("student", "x.onnx", "report"))


def _from_pretrained_calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_pretrained":
            yield node


def test_every_from_pretrained_passes_local_only():
    """A static check: a new loader without `**LOCAL_ONLY` (or the two keywords) fails here."""
    assert LOCAL_ONLY == {"trust_remote_code": False, "local_files_only": True}
    offenders, seen = [], 0
    for folder in SOURCE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            for call in _from_pretrained_calls(path):
                seen += 1
                spread = any(
                    k.arg is None and isinstance(k.value, ast.Name) and k.value.id == "LOCAL_ONLY"
                    for k in call.keywords
                )
                explicit = {k.arg: k.value for k in call.keywords if k.arg}
                ok = spread or (
                    isinstance(explicit.get("trust_remote_code"), ast.Constant)
                    and explicit["trust_remote_code"].value is False
                    and "local_files_only" in explicit
                )
                if not ok:
                    offenders.append(f"{path.relative_to(REPO)}:{call.lineno}")
    assert seen >= 5, "the scan found too few loaders: did the layout change?"
    assert not offenders, f"from_pretrained without **LOCAL_ONLY: {offenders}"
