"""Package-level behaviour: cheap import, labelled files, atomic writes, model-folder checks, CLI basics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from asdfd.cli import main
from asdfd.core._io import atomic_dir, check_output_path
from asdfd.core.data import read_labelled_file
from asdfd.core.errors import DataError, ModelLoadError, OutputExistsError
from asdfd.core.model_folder import read_classifier_config


def test_import_asdfd_does_not_import_torch():
    code = "import asdfd, asdfd.runtime, sys; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False False"


def test_read_labelled_file_tsv_and_csv(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text("sentence\tlabel\nit 's good \t1\nbad\t0\n", encoding="utf-8")
    data = read_labelled_file(tsv)
    assert data.texts == ["it 's good", "bad"] and data.labels == ["1", "0"]
    csv_file = tmp_path / "b.csv"
    csv_file.write_text('text,y\n"hello, world",pos\n', encoding="utf-8")
    data = read_labelled_file(csv_file, text_column="text", label_column="y")
    assert data.texts == ["hello, world"] and data.labels == ["pos"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("sentence\tlabel\n", "no rows"),
        ("text\tlabel\nx\t1\n", "no column 'sentence'"),
        ("sentence\tlabel\n \t1\n", "empty text"),
    ],
)
def test_read_labelled_file_errors(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_labelled_file(path)
    with pytest.raises(DataError, match="does not exist"):
        read_labelled_file(tmp_path / "missing.tsv")


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "done.txt").write_text("ok")
    assert (target / "done.txt").read_text() == "ok"
    with pytest.raises(OutputExistsError, match="--force"):
        check_output_path(target, force=False)


def test_read_classifier_config_errors(tmp_path, tiny_teacher_dir):
    assert read_classifier_config(tiny_teacher_dir)["model_type"] == "bert"
    with pytest.raises(ModelLoadError, match="does not exist"):
        read_classifier_config(tmp_path / "nope")
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})
    )
    with pytest.raises(ModelLoadError, match="unsupported architecture 'gpt2'"):
        read_classifier_config(tmp_path / "gpt")
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(ModelLoadError, match="not a sequence classifier"):
        read_classifier_config(tmp_path / "enc")


def test_cli_version_and_help():
    runner = CliRunner()
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and "compress" in result.output
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("teacher", "distill", "export", "bench", "run"):
        assert command in result.output


def test_finished_outputs_follow_the_umask(tmp_path):
    import os
    import stat

    from asdfd.core._io import atomic_file

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "model.bin").write_bytes(b"x")
        with atomic_file(tmp_path / "file.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "folder" / "model.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "file.json").stat().st_mode) == 0o644
