"""Student steps per second of each synthesis method, fp32 vs bf16 autocast, on a real teacher (CPU or GPU).

    python benchmarks/bench_steps.py --teacher artifacts/teacher-sst2 --threads 2

Each (method, precision) runs `--warmup` untimed and `--steps` timed student steps of the fast budget's
student (2 of 6 layers, 2/3 of the FFN neurons), batch 32, lengths 8-40: the time of `DistillLoop.train_step`
(synthesis, teacher forward, student forward and backward). Cells run in rotation, a block each, so a slow
period of a shared machine does not fall on one cell only. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch

from asdfd.compressor import DistillConfig, load_teacher
from asdfd.compressor.devices import Placement
from asdfd.compressor.loop import DistillLoop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--methods", default="random-tokens,words,guided,hotflip")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per block.")
    parser.add_argument("--blocks", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    teacher = load_teacher(args.teacher)
    cells = {}
    for method in args.methods.split(","):
        for precision in args.precisions.split(","):
            config = dataclasses.replace(DistillConfig.for_budget("fast"), method=method, show_progress=False)
            loop = DistillLoop(teacher, config, Placement(device=torch.device("cpu"), precision=precision))
            loop.build_heldouts()
            for _ in range(args.warmup):
                loop.train_step()
            cells[(method, precision)] = (loop, [])
    for _ in range(args.blocks):
        for loop, times in cells.values():
            for _ in range(args.steps):
                started = time.perf_counter()
                loop.train_step()
                times.append(time.perf_counter() - started)
    print(f"| method | precision | ms/step (median of {args.blocks * args.steps}) | steps/s | vs fp32 |")
    print("|---|---|---|---|---|")
    for (method, precision), (_, times) in cells.items():
        median = statistics.median(times)
        base = statistics.median(cells[(method, "fp32")][1]) if (method, "fp32") in cells else median
        print(f"| {method} | {precision} | {1000 * median:.0f} | {1 / median:.2f} | {base / median:.2f}x |")


if __name__ == "__main__":
    main()
