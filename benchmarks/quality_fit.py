"""Which data-free signal tracks real retention on a teacher it was not fitted on? Leave one teacher out.

    python benchmarks/quality_fit.py --yardstick heldout \
        --run sst2 artifacts/any/sst2/results.probes.jsonl 0.8965 \
        --run emotion artifacts/any/emotion/results.probes.jsonl 0.9025

Each --run is a task name, a bench_distill results file (or probe_rescore's results.probes.jsonl) and the teacher's
accuracy on the yardstick (`--yardstick`: the dev or held-out set the rows were scored on); a task may be given
several files. Retention = student / teacher accuracy. For every signal `asdfd.compressor.quality_estimate.signals`
derives from a run's probe metrics, the model is the line through (1, 1), retention = 1 - k (1 - signal) (a
student that matches the teacher everywhere keeps all of it), with k fitted by least squares on the distilled
students the shipped estimate gives a number for (`--fit all`: every one; floors, which no user ships, are listed
but never fitted). Printed: k over all teachers, the largest
error over them, and the largest error on each teacher when k is fitted on the other teachers only (leave one
teacher out: the honest figure, a user's teacher is none of these; > 0 = overstated), then the ranges the
estimate's "unknown" rules are set from (signal, spread of the probes, the teacher's class coverage). Real text is
only read here, to judge the signals; nothing here trains or selects a student.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asdfd.compressor.quality_estimate import quality_estimate, signals


def fit_k(points: list[tuple[float, float]]) -> float:
    """Least squares k of retention = 1 - k (1 - signal) over (signal, retention) points."""
    den = sum((1 - x) ** 2 for x, _ in points)
    return sum((1 - y) * (1 - x) for x, y in points) / den if den else 0.0


def read_runs(runs: list[list[str]], yardstick: str) -> list[dict]:
    """One dict per row: task, row, seed, retention, signals."""
    out = []
    for task, path, teacher in runs:
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            retention = record[f"{yardstick}_accuracy"] / float(teacher)
            synthetic = record["synthetic"]
            pairs = "heldout_edit_macro_agreement" in synthetic  # only pair teachers have the pair probes
            shipped = quality_estimate({**synthetic, "input_kind": "pair" if pairs else "single"})
            values = signals(synthetic)
            out.append(
                {"task": task, "row": record["row"], "seed": record["seed"], "retention": retention, **values}
                | {"shipped": shipped}
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", nargs=3, action="append", required=True, metavar=("TASK", "RESULTS", "TEACHER_ACC"))
    parser.add_argument("--yardstick", default="heldout", help="dev or heldout: the set retention is read on.")
    parser.add_argument(
        "--fit",
        choices=["estimated", "all"],
        default="estimated",
        help="Fit the line on the students the shipped estimate gives a number for (the ones it is used on), or on "
        "every distilled student (also those its rules call unknown: a what-if).",
    )
    args = parser.parse_args()
    runs = read_runs(args.run, args.yardstick)
    tasks = sorted({r["task"] for r in runs})
    names = sorted({k for r in runs for k, v in r.items() if isinstance(v, float) and k not in ("retention",)})
    print(f"{len(runs)} runs on {len(tasks)} teachers ({', '.join(tasks)}); retention on {args.yardstick}\n")
    print("| task | row | seed | retention | " + " | ".join(names) + " |")
    print("|---|---|---|---|" + "---|" * len(names))
    for r in runs:
        cells = [f"{r[n]:.3f}" if isinstance(r.get(n), float) else "-" for n in names]
        print(f"| {r['task']} | {r['row']} | {r['seed']} | {r['retention']:.3f} | " + " | ".join(cells) + " |")
    distilled = [r for r in runs if r["row"] != "floor"]
    trained = [r for r in distilled if args.fit == "all" or r["shipped"].get("status") == "estimated"]
    left = len(distilled) - len(trained)
    print(
        "\nFitted on the distilled students (not the floors"
        + (f"; not the {left} the shipped estimate calls unknown" if left else "")
        + "): retention = 1 - k (1 - signal)\n"
    )
    fitted_tasks = sorted({r["task"] for r in trained})
    print(
        "| signal | k | max error (all) | " + " | ".join(f"LOO error {t}" for t in fitted_tasks) + " | signal range |"
    )
    print("|---|---|---|" + "---|" * len(fitted_tasks) + "---|")
    for name in names:
        points = [(r[name], r["retention"], r["task"]) for r in trained if isinstance(r.get(name), float)]
        if len(points) < 3 or name in ("spread", "coverage"):
            continue
        k = fit_k([(x, y) for x, y, _ in points])
        error = max(abs(1 - k * (1 - x) - y) for x, y, _ in points)
        cells = []
        for task in fitted_tasks:
            train = [(x, y) for x, y, t in points if t != task]
            test = [(x, y) for x, y, t in points if t == task]
            if not train or not test:
                cells.append("-")
                continue
            k_other = fit_k(train)
            worst = max(test, key=lambda p: abs(1 - k_other * (1 - p[0]) - p[1]))
            cells.append(f"{1 - k_other * (1 - worst[0]) - worst[1]:+.3f} (k {k_other:.3f})")
        low, high = min(x for x, _, _ in points), max(x for x, _, _ in points)
        print(f"| {name} | {k:.3f} | {error:.3f} | " + " | ".join(cells) + f" | {low:.3f}-{high:.3f} |")
    spread = max(r["spread"] for r in trained)
    coverage = min(r["coverage"] for r in trained)
    print(f"\nlargest spread of the probes (text forms): {spread:.3f}; least best-probe class coverage: {coverage:.3f}")
    print("\nThe shipped estimate (asdfd.compressor.quality_estimate) on every distilled student:\n")
    print("| task | students | estimated | band holds | unknown | worst error (> 0: overstated) |")
    print("|---|---|---|---|---|---|")
    for task in tasks:
        rows = [r for r in distilled if r["task"] == task]
        given = [r for r in rows if r["shipped"].get("status") == "estimated"]
        errors = [r["shipped"]["expected_retention"] - r["retention"] for r in given]
        holds = sum(abs(e) <= r["shipped"]["error"] for e, r in zip(errors, given))
        worst = f"{max(errors, key=abs):+.3f}" if errors else "-"
        print(f"| {task} | {len(rows)} | {len(given)} | {holds} | {len(rows) - len(given)} | {worst} |")


if __name__ == "__main__":
    main()
