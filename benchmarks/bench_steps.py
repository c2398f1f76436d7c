"""Student steps per second of each synthesis method, fp32 vs bf16 autocast, with and without the student's
dropout, under the student's training attention kernel or torch's own choice, on a real teacher (CPU).

    python benchmarks/bench_steps.py --teacher artifacts/teacher-sst2 --threads 2
    python benchmarks/bench_steps.py --teacher artifacts/teacher-emotion --methods forms --precisions bf16 \
        --dropout on,off --attention training,torch --threads 1

Each cell runs `--warmup` untimed and `--steps` timed student steps of the fast budget's student (a third of the
teacher's layers, half for a pair teacher; 2/3 of the FFN neurons), batch 32: the time of
`DistillLoop.train_step` (synthesis, teacher forward, student forward and backward, optimiser). Cells run in
rotation, a block each, so a slow period of a shared machine does not fall on one cell only. Prints a markdown
table. `--attention torch` lets torch choose the student's attention kernel (`Placement.training_attention` off).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import statistics
import time
from pathlib import Path

import torch

from asdfd.compressor import DistillConfig, load_teacher
from asdfd.compressor.devices import Placement
from asdfd.compressor.loop import DistillLoop, resolve_config


class _TorchAttention(Placement):
    """A placement that leaves the student's attention kernel to torch."""

    def training_attention(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--methods", default="random-tokens,words,guided,hotflip")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--dropout", default="off", help="Comma-separated: on (the teacher's), off (the default).")
    parser.add_argument("--attention", default="training", help="Comma-separated: training (the default), torch.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per block.")
    parser.add_argument("--blocks", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    teacher = load_teacher(args.teacher)
    cells = {}
    axes = [args.methods, args.precisions, args.dropout, args.attention]
    for method, precision, dropout, attention in itertools.product(*(axis.split(",") for axis in axes)):
        fast = DistillConfig.for_budget("fast", method=method, show_progress=False)
        config = dataclasses.replace(fast, student=dataclasses.replace(fast.student, dropout=dropout == "on"))
        config = resolve_config(config, teacher.model.config.to_dict())
        kind = _TorchAttention if attention == "torch" else Placement
        loop = DistillLoop(teacher, config, kind(device=torch.device("cpu"), precision=precision))
        loop.build_heldouts()
        for _ in range(args.warmup):
            loop.train_step()
        cells[(method, precision, dropout, attention)] = (loop, [])
    for _ in range(args.blocks):
        for loop, times in cells.values():
            for _ in range(args.steps):
                started = time.perf_counter()
                loop.train_step()
                times.append(time.perf_counter() - started)
    print(f"| method | precision | dropout | attention | ms/step (median of {args.blocks * args.steps}) | steps/s |")
    print("|---|---|---|---|---|---|")
    for (method, precision, dropout, attention), (_, times) in cells.items():
        median = statistics.median(times)
        print(f"| {method} | {precision} | {dropout} | {attention} | {1000 * median:.0f} | {1 / median:.2f} |")


if __name__ == "__main__":
    main()
