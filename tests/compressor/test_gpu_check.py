"""benchmarks/gpu_check.py, where no GPU is: it refuses without CUDA, and its whole plan runs on CPU (--allow-cpu)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _check(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_check_refuses_without_cuda_in_one_line(tmp_path, rule_teacher_dir):
    result = _check("--teacher", str(rule_teacher_dir), "--out", str(tmp_path / "check"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: no CUDA GPU is visible (torch.cuda.is_available() is False): run the GPU check on a machine with a "
        "GPU and a CUDA build of torch (and onnxruntime-gpu for the export step)"
    ]
    assert not (tmp_path / "check").exists()


def test_gpu_check_plan_runs_on_cpu(tmp_path, rule_teacher_dir, tiny_labelled_tsv):
    """1 process, torchrun x2 and the fp16 export, as on a GPU machine, with a tiny teacher and a few steps."""
    out = tmp_path / "check"
    extra = (
        "--steps 6 --batch-size 4 --max-length 12 --student-layers 0,3 --threads 1 --method random-tokens "
        "--set heldout_random=16"
    )
    result = _check(
        "--teacher",
        str(rule_teacher_dir),
        "--out",
        str(out),
        "--eval-file",
        str(tiny_labelled_tsv),
        "--allow-cpu",
        "--seconds",
        "60",
        "--extra",
        extra,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["device"] == "cpu" and report["processes"] == 2 and "says nothing about GPUs" in report["note"]
    one, two = report["distill"]["1"], report["distill"]["2"]
    assert (one["world_size"], two["world_size"]) == (1, 2) and one["steps"] == two["steps"] == 6
    assert two["effective_batch"] == 2 * one["effective_batch"] == 8 and two["replicas_in_sync"]
    assert report["scaling_efficiency"] == pytest.approx(
        two["samples_per_second"] / (2 * one["samples_per_second"]), abs=1e-3
    )
    assert 0.0 <= one["eval_accuracy"] <= 1.0
    assert report["export"]["variant"] in ("fp16", "fp32") and report["export"]["passed"] is True
    assert "scaling efficiency 1 -> 2" in result.stdout
