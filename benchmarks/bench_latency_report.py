"""Benchmark a student against its teacher from Python (what `compress bench` does), and print the summary.

Run:

    python benchmarks/bench_latency_report.py --teacher artifacts/teacher-sst2 --student student.onnx \\
        --eval-file data/sst2/dev.tsv --threads 2 --out artifacts/bench-report

Writes report.json, report.md and latency.png into --out. Needs the `compress` extra (the teacher is
measured in PyTorch and exported as ONNX fp32/int8 baselines).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.console import Console

from asdfd.runtime import BenchConfig, run_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--student", type=Path, action="append", default=[], help="repeat for several")
    parser.add_argument("--eval-file", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench-report"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    config = BenchConfig(
        teacher=args.teacher, students=tuple(args.student), eval_file=args.eval_file, threads=args.threads, out=args.out
    )
    report = run_bench(config)
    Console().print(report.summary_table())
    headline = report.headline_cell()
    for row in report.speedups():
        if (row["batch_size"], row["seq_len"]) == headline and row["model"].startswith("student"):
            ratios = ", ".join(f"{value:.1f}× vs {base}" for base, value in row["p50_speedup_vs"].items())
            print(f"{row['model']} at batch {headline[0]} × {headline[1]} tokens: {ratios}")


if __name__ == "__main__":
    main()
