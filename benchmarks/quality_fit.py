"""Which data-free signal tracks real retention across tasks? Fit retention = a + b * signal over benchmark runs.

    python benchmarks/quality_fit.py --results artifacts/screen-sst2/results.jsonl:0.8567 \\
        artifacts/screen-emotion/results.jsonl:0.9005

Each --results item is a bench_distill results.jsonl and its teacher's dev accuracy. For every synthetic held-out
metric the distiller logs (`heldout_*`), prints the least-squares line, the largest error over all runs, and the
largest error when the line is fitted on one task and applied to the other (the honest figure: a user's task is
neither). Real text is only read here, to judge the signals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var if var else 0.0
    return mean_y - slope * mean_x, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", nargs="+", required=True, help="results.jsonl:teacher_dev_accuracy")
    args = parser.parse_args()
    runs = []  # (task, retention, synthetic metrics)
    for item in args.results:
        path, _, teacher = item.rpartition(":")
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            runs.append((path, record["dev_accuracy"] / float(teacher), record["synthetic"], record["row"]))
    signals = sorted({k for _, _, s, _ in runs for k, v in s.items() if isinstance(v, float)})
    tasks = sorted({task for task, _, _, _ in runs})
    print(f"{len(runs)} runs on {len(tasks)} tasks\n")
    print("| signal | a | b | max error (all) | max error (fit on one task, applied to the other) |")
    print("|---|---|---|---|---|")
    for signal in signals:
        points = [(s[signal], r, t) for t, r, s, _ in runs if signal in s]
        a, b = _fit([x for x, _, _ in points], [y for _, y, _ in points])
        error = max(abs(a + b * x - y) for x, y, _ in points)
        cross = 0.0
        for task in tasks:
            train = [(x, y) for x, y, t in points if t != task]
            test = [(x, y) for x, y, t in points if t == task]
            if len(train) > 1 and test:
                ta, tb = _fit([x for x, _ in train], [y for _, y in train])
                cross = max(cross, max(abs(ta + tb * x - y) for x, y in test))
        print(f"| {signal} | {a:.3f} | {b:.3f} | {error:.3f} | {cross:.3f} |")


if __name__ == "__main__":
    main()
