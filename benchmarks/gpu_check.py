"""GPU check: what the CUDA path delivers, in one run of a few minutes (`make gpu-check`).

    python benchmarks/gpu_check.py --teacher artifacts/teacher-sst2 --out artifacts/gpu-check

On a machine with CUDA it runs, through the same commands a user types:
  1. a bf16 distillation of the teacher on one GPU (`compress distill --budget fast --device cuda --precision bf16`),
  2. the same on every visible GPU (`torchrun --standalone --nproc-per-node N -m asdfd.cli distill ...`),
  3. an fp16 export of the 1-GPU student validated on onnxruntime's CUDA provider (`compress export --quantize fp16`),
then prints student steps/s, samples/s, the scaling efficiency from 1 to N GPUs (samples/s on N / (N x samples/s
on 1)) and accuracy on `--eval-file`, and writes them to `<out>/gpu_check.json`. Each distillation trains for
`--seconds` (default 90), so the whole check takes under 8 minutes on one node.

Without CUDA it refuses with one line (exit 1). `--allow-cpu` runs the same plan on CPU processes (gloo), so the
script itself is tested where no GPU is (tests/test_gpu_check.py); its figures then say nothing about GPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ALLOWED_SECONDS = 8 * 60


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "asdfd.cli", *args]


def _torchrun(nproc: int, *args: str) -> list[str]:
    launcher = Path(sys.executable).with_name("torchrun")
    head = [str(launcher)] if launcher.is_file() else [sys.executable, "-m", "torch.distributed.run"]
    return [*head, "--standalone", f"--nproc-per-node={nproc}", "-m", "asdfd.cli", *args]


def _run(name: str, command: list[str], log: Path, stdout: Path | None = None) -> float:
    """Run one step of the check, its output in `log` (its stdout in `stdout` when given); stop the check with the
    step's last lines if it fails."""
    print(f"[{name}] {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    with contextlib.ExitStack() as files:
        sink = files.enter_context(log.open("w", encoding="utf-8"))
        out = files.enter_context(stdout.open("w", encoding="utf-8")) if stdout else sink
        code = subprocess.run(command, stdout=out, stderr=sink, env={**os.environ}).returncode
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        raise SystemExit(f"Error: step {name} failed (exit {code}); last lines of {log}:\n" + "\n".join(tail))
    return time.perf_counter() - started


def _distilled(folder: Path) -> dict:
    summary = json.loads((folder / "distill.json").read_text(encoding="utf-8"))
    metrics = summary["metrics"]
    return {
        "world_size": summary["world_size"],
        "device": summary["device"],
        "precision": summary["precision"],
        "steps": metrics["steps"],
        "steps_per_second": metrics["steps_per_second"],
        "samples_per_second": metrics["samples_per_second"],
        "effective_batch": metrics["effective_batch"],
        "eval_accuracy": metrics.get("eval_accuracy"),
        "teacher_eval_accuracy": metrics.get("teacher_eval_accuracy"),
        "replicas_in_sync": metrics.get("replicas_in_sync", True),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True, help="A teacher folder (make teacher builds one).")
    parser.add_argument("--out", type=Path, default=Path("artifacts/gpu-check"), help="Folder for students and logs.")
    parser.add_argument("--eval-file", type=Path, default=Path("data/sst2/dev.tsv"), help="Labelled file (report).")
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument("--seconds", type=float, default=90.0, help="Training time of each distillation.")
    parser.add_argument("--gpus", type=int, default=None, help="GPUs for the torchrun step [default: all visible].")
    parser.add_argument("--allow-cpu", action="store_true", help="Run the plan on CPU (tests the script only).")
    parser.add_argument("--quantize", default="fp16", help="Export variant [default: fp16, for the CUDA provider].")
    parser.add_argument("--extra", default="", help="More `compress distill` options, e.g. '--steps 20' (tests).")
    args = parser.parse_args(argv)

    import torch

    if torch.cuda.is_available():
        device, processes = "cuda", args.gpus or torch.cuda.device_count()
    elif args.allow_cpu:
        device, processes = "cpu", args.gpus or 2
    else:
        print(
            "Error: no CUDA GPU is visible (torch.cuda.is_available() is False): run the GPU check on a machine "
            "with a GPU and a CUDA build of torch (and onnxruntime-gpu for the export step)",
            file=sys.stderr,
        )
        return 1
    if not args.teacher.is_dir():
        print(f"Error: teacher folder {args.teacher} not found: build one with `make teacher`", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    common = [
        "--teacher",
        str(args.teacher),
        "--budget",
        "fast",
        "--device",
        device,
        "--precision",
        "bf16",
        "--max-seconds",
        str(args.seconds),
        "--eval-file",
        str(args.eval_file),
        "--text-column",
        args.text_column,
        "--force",
        "--seed",
        "0",
        *shlex.split(args.extra),
    ]
    single, multi = args.out / "student-1", args.out / f"student-{processes}"
    timings = {
        "distill_1": _run(
            "distill, 1 process", _cli("distill", "--out", str(single), *common), args.out / "distill-1.log"
        )
    }
    if processes > 1:
        timings[f"distill_{processes}"] = _run(
            f"distill, torchrun x{processes}",
            _torchrun(processes, "distill", "--out", str(multi), *common),
            args.out / f"distill-{processes}.log",
        )
    onnx_path = args.out / f"student.{args.quantize}.onnx"
    timings["export"] = _run(
        f"export {args.quantize}",
        _cli("export", str(single), "--out", str(onnx_path), "--quantize", args.quantize, "--json", "--force"),
        args.out / "export.log",
        stdout=args.out / "export.json",
    )
    export_report = _export_report(args.out / "export.json")

    one = _distilled(single)
    rows = {"1": one}
    if processes > 1:
        rows[str(processes)] = _distilled(multi)
    many = rows[str(processes)]
    efficiency = many["samples_per_second"] / (processes * one["samples_per_second"]) if processes > 1 else 1.0
    total = time.perf_counter() - started
    result = {
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "processes": processes,
        "distill": rows,
        "scaling_efficiency": round(efficiency, 3),
        "export": export_report,
        "seconds": {k: round(v, 1) for k, v in timings.items()} | {"total": round(total, 1)},
        "within_8_minutes": total <= ALLOWED_SECONDS,
        "note": "CPU run (--allow-cpu): tests the script, says nothing about GPUs" if device == "cpu" else "",
    }
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'processes':>9} {'steps/s':>8} {'samples/s':>10} {'accuracy':>9} {'teacher':>8}")
    for count, row in rows.items():
        accuracy = row["eval_accuracy"] if row["eval_accuracy"] is not None else float("nan")
        teacher = row["teacher_eval_accuracy"] if row["teacher_eval_accuracy"] is not None else float("nan")
        print(
            f"{count:>9} {row['steps_per_second']:>8.2f} {row['samples_per_second']:>10.1f} "
            f"{accuracy:>9.4f} {teacher:>8.4f}"
        )
    print(f"scaling efficiency 1 -> {processes}: {efficiency:.2f}")
    print(f"export: {export_report}")
    print(f"total {total:.0f} s; results in {args.out / 'gpu_check.json'}")
    if not all(row["replicas_in_sync"] for row in rows.values()):
        print("Error: the torchrun ranks ended with different weights (see distill.json)", file=sys.stderr)
        return 1
    return 0


def _export_report(path: Path) -> dict:
    """The fields of `compress export --json` that the check reports (variant, provider, validation)."""
    report = json.loads(path.read_text(encoding="utf-8"))
    final = (report.get("validation") or {}).get("final") or {}
    return {
        "variant": report.get("variant"),
        "validation_provider": report.get("validation_provider"),
        "agreement_with_pytorch": final.get("primary_agreement"),
        "passed": final.get("passed"),
        "size_mb": report.get("size_mb"),
        "fallbacks": report.get("fallbacks"),
    }


if __name__ == "__main__":
    sys.exit(main())
