"""Faults in a real process: SIGTERM and kill -9 during distill, export and run; a full disk. Outputs stay intact.

Each test runs the `compress` console script in a subprocess on the tiny teacher, interrupts it at a point it
waits for (a checkpoint written, a scratch folder created), and checks what is left: no valid-looking output, a
checkpoint that resumes to the same weights, no temporary folder once the next run starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

COMPRESS = Path(sys.executable).with_name("compress")
DISTILL = [
    "--steps",
    "400",
    "--batch-size",
    "4",
    "--max-length",
    "12",
    "--checkpoint-every",
    "5",
    "--threads",
    "1",
    "--set",
    "heldout_random=8",
    "--set",
    "eval_every=1000",
]


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(COMPRESS), "-q", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the process to get there")
        time.sleep(0.05)


def _weights(folder: Path) -> dict:
    return load_file(folder / "model.safetensors")


@pytest.mark.skipif(not COMPRESS.is_file(), reason="the compress console script is not installed")
def test_sigterm_during_distill_checkpoints_and_resumes_to_the_same_weights(tmp_path, tiny_teacher_dir):
    out = tmp_path / "student"
    ckpt = tmp_path / ".student.ckpt"
    process = _start("distill", "--teacher", str(tiny_teacher_dir), "--out", str(out), *DISTILL)
    _wait_for(lambda: (ckpt / "state.pt").is_file() or process.poll() is not None)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "To resume: compress" in output and "--resume" in output and "Traceback" not in output
    assert not out.exists() and (ckpt / "state.pt").is_file()
    step = torch.load(ckpt / "state.pt", weights_only=True)["step"]
    assert 0 < step < 400

    resumed = subprocess.run(
        [str(COMPRESS), "-q", "distill", "--teacher", str(tiny_teacher_dir), "--out", str(out), *DISTILL, "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    reference = tmp_path / "reference"
    done = subprocess.run(
        [str(COMPRESS), "-q", "distill", "--teacher", str(tiny_teacher_dir), "--out", str(reference), *DISTILL],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    expected, actual = _weights(reference), _weights(out)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)


@pytest.mark.slow
@pytest.mark.skipif(not COMPRESS.is_file(), reason="the compress console script is not installed")
@pytest.mark.parametrize("signal_to_send", [signal.SIGKILL, signal.SIGTERM])
def test_killed_export_leaves_no_output_and_no_scratch_after_the_next_run(tmp_path, tiny_teacher_dir, signal_to_send):
    out = tmp_path / "student.onnx"
    scratch_root = Path(tempfile.gettempdir())
    process = _start("export", str(tiny_teacher_dir), "--out", str(out), "--quantize", "int8-static")
    prefix = f"asdfd-export-{process.pid}-"
    _wait_for(lambda: any(p.name.startswith(prefix) for p in scratch_root.iterdir()) or process.poll() is not None)
    process.send_signal(signal_to_send)
    process.communicate(timeout=60)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    again = subprocess.run(
        [str(COMPRESS), "-q", "export", str(tiny_teacher_dir), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert out.is_file() and not any(p.name.startswith(prefix) for p in scratch_root.iterdir())


@pytest.mark.slow
@pytest.mark.skipif(not COMPRESS.is_file(), reason="the compress console script is not installed")
def test_killed_run_resumes(tmp_path, tiny_teacher_dir):
    import yaml

    from tests.test_pipeline import TINY_RUN

    config = tmp_path / "run.yaml"
    options = {**TINY_RUN, "distill": {**TINY_RUN["distill"], "steps": 300, "checkpoint_every": 5}}
    config.write_text(yaml.safe_dump(options), encoding="utf-8")
    out = tmp_path / "student.onnx"
    args = ["run", "--teacher", str(tiny_teacher_dir), "--out", str(out), "--config", str(config)]
    process = _start(*args)
    _wait_for(lambda: (tmp_path / "student.run" / ".student.ckpt" / "state.pt").is_file() or process.poll() is not None)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert not out.exists()
    resumed = subprocess.run([str(COMPRESS), "-q", "run", *args[1:]], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert out.is_file() and (tmp_path / "student.run" / "report" / "report.json").is_file()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root to mount a tiny tmpfs")
def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, tiny_teacher_dir):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        result = subprocess.run(
            [str(COMPRESS), "-q", "export", str(tiny_teacher_dir), "--out", str(disk / "s.onnx"), "--quantize", "none"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 1 and "Traceback" not in output, output
        assert "free" in output.lower() or "space" in output.lower(), output
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_an_os_error_midway_is_one_line():
    import errno

    import click

    from asdfd.cli._common import user_errors

    with pytest.raises(click.ClickException, match=r"No space left on device \(/x/y\): free some space"):
        with user_errors():
            raise OSError(errno.ENOSPC, "No space left on device", "/x/y")


def _teacher_args(tmp_path: Path, base: Path, out: Path) -> list[str]:
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"text {i}\t{i % 2}\n" for i in range(8)), encoding="utf-8")
    return ["teacher", "--train", str(train), "--out", str(out), "--base-model", str(base), "--steps", "2"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root to mount a tiny tmpfs")
def test_full_disk_during_compress_teacher_is_one_line_and_leaves_nothing(tmp_path, tiny_teacher_dir):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        result = subprocess.run(
            [str(COMPRESS), "-q", *_teacher_args(tmp_path, tiny_teacher_dir, disk / "teacher")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 1 and "Traceback" not in output and output.count("\n") == 1, output
        assert "space" in output.lower(), output
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_enospc_while_saving_the_teacher_is_one_line_and_leaves_nothing(tmp_path, tiny_teacher_dir, monkeypatch):
    import errno

    from click.testing import CliRunner
    from transformers import PreTrainedModel

    from asdfd.cli import main

    def full(self, folder, **kwargs):
        (Path(folder) / "model.safetensors").write_bytes(b"half")  # a partial file, as a full disk leaves it
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(folder) / "model.safetensors"))

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full)
    out = tmp_path / "teacher"
    result = CliRunner().invoke(main, ["-q", *_teacher_args(tmp_path, tiny_teacher_dir, out)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: No space left on device") and "free some space" in result.output
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".teacher")]


BLOCKER = """
import sys

class Blocker:  # the runtime-only install: no torch, transformers or optimum
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "transformers", "optimum"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
from asdfd.cli import main

main(sys.argv[1:], prog_name="compress")
"""


@pytest.mark.parametrize("command", ["distill", "run", "export", "teacher"])
def test_without_the_compress_extra_each_command_names_it_in_one_line(tmp_path, tiny_teacher_dir, command):
    args = {
        "distill": ["distill", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path / "s")],
        "run": ["run", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path / "s.onnx")],
        "export": ["export", str(tiny_teacher_dir), "--out", str(tmp_path / "s.onnx")],
        "teacher": _teacher_args(tmp_path, tiny_teacher_dir, tmp_path / "t"),
    }[command]
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, "-q", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1 and output.count("\n") == 1 and "Traceback" not in output, output
    assert output.startswith("Error: compress needs the compress extra (") and 'pip install ".[compress]"' in output
    assert not {"s", "s.onnx", "s.run", "t"} & {p.name for p in tmp_path.iterdir()}


def test_an_interrupt_says_whether_anything_was_written(tmp_path, tiny_teacher_dir, monkeypatch):
    from click.testing import CliRunner

    import asdfd.compressor
    from asdfd.cli import main

    out = tmp_path / "s"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(asdfd.compressor, "distill", interrupted)
    args = ["-q", "distill", "--teacher", str(tiny_teacher_dir), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130 and "Interrupted before anything was written" in result.output, result.output
    assert "complete" not in result.output and "resume" not in result.output

    def checkpointed(*args, **kwargs):
        (tmp_path / ".s.ckpt").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(asdfd.compressor, "distill", checkpointed)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130 and "outputs written so far are complete. To resume: " in result.output
    assert "--resume" in result.output


@pytest.mark.skipif(not COMPRESS.is_file(), reason="the compress console script is not installed")
def test_progress_into_a_file_leaves_no_blank_lines(tmp_path, tiny_teacher_dir):
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        result = subprocess.run(
            [str(COMPRESS), "distill", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path / "s"), *DISTILL]
            + ["--max-seconds", "600"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=300,
        )
    text = log.read_text()
    assert result.returncode == 0, text
    lines = text.split("\n")[:-1]
    assert lines and not [line for line in lines if not line.strip()], text  # no blank lines
    assert "\r" not in text and "it/s" not in text, text  # no bar redraws: the periodic log lines instead
    assert " s of the time budget " in text and "/400 " not in text, text  # told against what stops the run


@pytest.mark.skipif(not COMPRESS.is_file(), reason="the compress console script is not installed")
def test_teacher_progress_into_a_file_is_periodic_lines(tmp_path, tiny_teacher_dir, tiny_labelled_tsv):
    """`compress teacher` with stderr to a file (make demo > log): a line per 5% with the time left, no bar."""
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        command = [str(COMPRESS), "teacher", "--train", str(tiny_labelled_tsv), "--out", str(tmp_path / "t")]
        command += ["--base-model", str(tiny_teacher_dir), "--steps", "40", "--batch-size", "4", "--threads", "1"]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=300)
    text = log.read_text()
    assert result.returncode == 0, text
    steps = [line for line in text.splitlines() if "teacher step " in line]
    assert len(steps) == 20 and "teacher step 40/40" in steps[-1] and "s left" in steps[0], text
    assert "\r" not in text and not [line for line in text.split("\n")[:-1] if not line.strip()], text
