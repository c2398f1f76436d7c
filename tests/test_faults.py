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
