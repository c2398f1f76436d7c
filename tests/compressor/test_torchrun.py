"""`compress distill` under torchrun on CPU (gloo): real multi-process launches of the CLI, nothing simulated.

One short 2-process run, bad options, a stray `WORLD_SIZE` and a rank killed with -9 are in `make test`; the
interrupted-and-resumed run, the NaN on one rank, the world-size check and the two-"node" launch (two torchrun agents
meeting through c10d on 127.0.0.1) are `slow`.
Every launch is bounded by a timeout, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification

WORKER = Path(__file__).with_name("torchrun_worker.py")
TIMEOUT = 240
STEPS = 1500
"""Long enough (seconds) for the interrupted run to be stopped before its end."""


def _torchrun() -> list[str]:
    launcher = Path(sys.executable).with_name("torchrun")
    return [str(launcher)] if launcher.is_file() else [sys.executable, "-m", "torch.distributed.run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def _distill_args(teacher: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return [
        "distill",
        "--teacher",
        str(teacher),
        "--out",
        str(out),
        "--student-layers",
        "0,3",
        "--method",
        "random-tokens",
        "--steps",
        str(steps),
        "--batch-size",
        "4",
        "--max-length",
        "12",
        "--device",
        "cpu",
        "--precision",
        "fp32",
        "--threads",
        "1",
        "--set",
        "heldout_random=16",
        "--eval-every",
        "1000",
        *extra,
    ]


def _launch(args: list[str], *, nproc: int = 2, env: dict[str, str] | None = None, launch: list[str] | None = None):
    command = [*_torchrun(), *(launch or ["--standalone", f"--nproc-per-node={nproc}"]), str(WORKER), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env or _env())


def _summary(out: Path) -> dict:
    return json.loads((out / "distill.json").read_text())


def _check_student(out: Path, world_size: int, steps: int | None) -> dict:
    summary = _summary(out)
    assert summary["world_size"] == world_size
    assert summary["metrics"]["steps"] == steps if steps is not None else summary["metrics"]["steps"] > 0
    digests = summary["replica_weights_sha256"]
    assert len(digests) == world_size and len(set(digests)) == 1, digests  # every rank ended with equal weights
    assert summary["metrics"]["replicas_in_sync"] is True
    timings = summary["timings"]
    assert timings["effective_batch"] == 4 * world_size
    assert timings["samples_per_second"] == pytest.approx(timings["steps_per_second"] * 4 * world_size, rel=0.01)
    model = AutoModelForSequenceClassification.from_pretrained(out, trust_remote_code=False)
    logits = model(input_ids=torch.tensor([[2, 7, 9, 3]])).logits
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    return summary


def test_torchrun_two_processes_train_one_student(tmp_path, rule_teacher_dir):
    """Under a time budget, as users run: the learning rate follows each rank's progress, so the ranks must agree
    on the clock (or the replicas drift apart, which the weights digests catch)."""
    out = tmp_path / "student"
    result = _launch(_distill_args(rule_teacher_dir, out, 100000, "--max-seconds", "3"))
    assert result.returncode == 0, result.stderr[-3000:]
    _check_student(out, world_size=2, steps=None)
    # Rank 0 alone writes: the student folder and nothing else beside it (no checkpoint, no temporary folder).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"]
    assert result.stderr.count("student written to") == 1


def test_replicas_drift_apart_without_the_gradient_all_reduce(tmp_path, rule_teacher_dir):
    """The equal-weights check above can fail: with the all-reduce switched off, the ranks' students differ."""
    out = tmp_path / "student"
    result = _launch(_distill_args(rule_teacher_dir, out, 4), env=_env(ASDFD_TEST_NO_ALL_REDUCE="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _summary(out)
    assert len(set(summary["replica_weights_sha256"])) == 2 and summary["metrics"]["replicas_in_sync"] is False


@pytest.mark.slow
def test_torchrun_interrupted_run_resumes_with_the_same_world_size(tmp_path, rule_teacher_dir):
    out = tmp_path / "student"
    ckpt = tmp_path / ".student.ckpt" / "state.pt"
    args = _distill_args(rule_teacher_dir, out, STEPS, "--checkpoint-every", "5")
    command = [*_torchrun(), "--standalone", "--nproc-per-node=2", str(WORKER), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + TIMEOUT
    while not ckpt.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)  # what a scheduler sends; torchrun forwards it to every rank
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert ckpt.is_file() and not out.exists(), stderr[-3000:]
    assert "To resume: torchrun <the same options> -m asdfd.cli distill" in stderr
    saved = torch.load(ckpt, weights_only=True)
    assert saved["world_size"] == 2 and saved["step"] > 0

    # Another world size is refused with one line (the effective batch would change), and the checkpoint is kept.
    single = subprocess.run(
        [sys.executable, "-m", "asdfd.cli", "distill", *args[1:], "--resume"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_env(),
    )
    assert single.returncode == 1
    assert "made by 2 process(es) and this run has 1" in single.stderr and "Traceback" not in single.stderr
    assert ckpt.is_file()

    # The same world size continues from the checkpoint to the end.
    resumed = _launch([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from step {saved['step']}" in resumed.stderr
    _check_student(out, world_size=2, steps=STEPS)


@pytest.mark.slow
def test_nan_on_one_rank_stops_every_rank_with_one_line(tmp_path, rule_teacher_dir):
    out = tmp_path / "student"
    started = time.monotonic()
    result = _launch(
        _distill_args(rule_teacher_dir, out, 50), env=_env(ASDFD_TEST_NAN_RANK="1", ASDFD_TEST_NAN_STEP="4")
    )
    assert time.monotonic() - started < TIMEOUT  # no hang
    assert result.returncode != 0 and not out.exists()
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: another rank's loss became NaN/inf at step 4; lower --lr or --temperature; "
        "no checkpoint was written yet"
    ], result.stderr[-3000:]
    # No traceback from the ranks (torchrun's agent prints its own failure report, naming no asdfd frame).
    frames = [line for line in result.stderr.splitlines() if line.strip().startswith('File "')]
    assert not [line for line in frames if "asdfd" in line or "/compressor/" in line], frames


@pytest.mark.slow
def test_two_nodes_through_c10d_rendezvous(tmp_path, rule_teacher_dir):
    """Two torchrun agents, one process each, meet at 127.0.0.1 as two machines would (`--nnodes 2`)."""
    out = tmp_path / "student"
    endpoint = f"127.0.0.1:{_free_port()}"
    launch = ["--nnodes=2", "--nproc-per-node=1", "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}", "--rdzv-id=t2n"]
    args = _distill_args(rule_teacher_dir, out, 8)
    command = [*_torchrun(), *launch, str(WORKER), *args]
    nodes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())]
    nodes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()))
    results = [node.communicate(timeout=TIMEOUT) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [stderr[-2000:] for _, stderr in results]
    _check_student(out, world_size=2, steps=8)
    assert sum(stderr.count("student written to") for _, stderr in results) == 1


def _asdfd_frames(stderr: str) -> list[str]:
    """Traceback lines in our code (torchrun's agent prints its own failure report, naming no asdfd frame)."""
    lines = (re.sub(r"^\[rank\d+\]:\s*", "", line).strip() for line in stderr.splitlines())
    frames = [line for line in lines if line.startswith('File "')]
    return [line for line in frames if "asdfd" in line or "/compressor/" in line]


def test_bad_options_under_torchrun_are_one_line_per_rank(tmp_path, rule_teacher_dir):
    out = tmp_path / "student"
    started = time.monotonic()
    result = _launch(_distill_args(rule_teacher_dir, out, 4, "--batch-size", "1000000000"))
    assert time.monotonic() - started < TIMEOUT and result.returncode != 0 and not out.exists()
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2 and all("batch_size must be in [2, 4096]" in line for line in errors), result.stderr
    assert not _asdfd_frames(result.stderr), result.stderr[-3000:]


def test_a_stray_world_size_without_torchrun_is_one_line(tmp_path, rule_teacher_dir):
    out = tmp_path / "student"
    result = subprocess.run(
        [sys.executable, "-m", "asdfd.cli", "-q", *_distill_args(rule_teacher_dir, out, 4)],
        capture_output=True,
        text=True,
        timeout=60,  # a hang waiting for processes that never come fails here
        env=_env(WORLD_SIZE="2"),
    )
    assert result.returncode == 1 and result.stdout == "", result.stderr
    assert result.stderr.startswith("Error: WORLD_SIZE=2 is set but RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not")
    assert result.stderr.count("\n") == 1 and "unset WORLD_SIZE" in result.stderr and not out.exists()


def test_a_rank_killed_with_9_stops_the_others_with_one_line(tmp_path, rule_teacher_dir):
    import psutil

    out = tmp_path / "student"
    ckpt = tmp_path / ".student.ckpt" / "state.pt"
    args = _distill_args(rule_teacher_dir, out, 100000, "--checkpoint-every", "5")
    command = [*_torchrun(), "--standalone", "--nproc-per-node=2", str(WORKER), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        deadline = time.monotonic() + TIMEOUT
        while not ckpt.is_file() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        ranks = psutil.Process(process.pid).children(recursive=True)
        victim = next(child for child in ranks if child.environ().get("RANK") == "1")
        victim.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=120)  # the survivors stop instead of waiting in a collective
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0 and not out.exists() and ckpt.is_file()
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert errors == [errors[0]] and "another process of this torchrun job stopped" in errors[0], stderr[-3000:]
    assert "run the same torchrun launch with --resume" in errors[0]
    assert not _asdfd_frames(stderr), stderr[-3000:]
