"""Which teacher layers the student keeps: the fixed spread against the teacher's own choice (`--student-layers auto`),
at equal wall-clock, over seeds; real labelled text only scores the students, never trains or selects them.

    python benchmarks/bench_layers.py --teacher artifacts/teacher-sst2 --eval-file data/sst2/dev.tsv \\
        --seeds 0,1,2 --seconds 330 --arms spread,auto --out artifacts/bench-layers/sst2
    python benchmarks/bench_layers.py --teacher artifacts/teacher-mrpc --eval-file $DATA/mrpc/test.tsv \\
        --text-column sentence1,sentence2 --arms spread,auto,spread:3,auto:3 --seeds 0,1,2 --out ...  # pairs: depth

Each arm ("spread" or "auto", ":N" for N layers; else the fast budget's depth) distills with
`DistillConfig.for_budget("fast", seed=s)` and `--seconds` of training; the auto arm's choice is part of those
seconds. Every student is scored on each `--eval-file`; the floor is the cut student with no training
(benchmarks/cut_floor.py's `floor_metrics`) of the spread's layers, so "gap recovered" = (student - floor) /
(teacher - floor) is comparable across arms (each arm's own floor is shown beside it). `--candidates` also scores
the floor of every set the choice scored (first seed, first eval file) and prints how each data-free score ranks
them against real accuracy (Spearman). Runs append to `<out>/results.jsonl` (a re-run skips those done); the
Markdown table is printed and written to `<out>/results.md`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # cut_floor.py beside this file

from cut_floor import floor_metrics  # noqa: E402

from asdfd.compressor import DistillConfig, distill, load_teacher  # noqa: E402
from asdfd.compressor.devices import Placement  # noqa: E402
from asdfd.compressor.diagnostics import eval_label_ids, eval_metrics, evaluate_texts  # noqa: E402
from asdfd.core.data import read_labelled_file  # noqa: E402
from asdfd.core.heads import PRIMARY_METRIC, head_of  # noqa: E402
from asdfd.core.model_folder import load_sequence_classifier  # noqa: E402
from asdfd.runtime.metrics import spearman  # noqa: E402

logger = logging.getLogger("bench_layers")
CPU = Placement(device=torch.device("cpu"), precision="fp32")


def arm_config(arm: str, seed: int, seconds: float, threads: int | None) -> DistillConfig:
    """The fast budget with this arm's layer choice and depth ("auto", "spread:3", ...)."""
    choice, _, depth = arm.partition(":")
    if choice not in ("spread", "auto"):
        raise SystemExit(f"--arms: expected spread or auto (optionally :N), got {arm!r}")
    fast = DistillConfig.for_budget("fast", seed=seed, max_seconds=seconds, show_progress=False, threads=threads)
    student = dataclasses.replace(fast.student, layer_choice=choice)
    if depth:
        student = dataclasses.replace(student, num_layers=int(depth))
    return dataclasses.replace(fast, student=student)


def read_eval(path: Path, text_column: str, label_column: str, config: dict) -> tuple[list, np.ndarray]:
    data = read_labelled_file(path, text_column=text_column, label_column=label_column)
    return data.texts, np.asarray(eval_label_ids(data.labels, config["id2label"], path, head_of(config)))


def mean_sd(values: list[float]) -> str:
    if not values or not all(np.isfinite(values)):
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def gap(student: float, floor: float, teacher: float) -> float:
    return (student - floor) / (teacher - floor) if teacher != floor else float("nan")


def markdown(results: list[dict], evals: list[str], teacher: dict, floor: dict, metric: str) -> str:
    """One row per arm: its layers per seed, and per eval file the arm's own floor, the students' figure and agreement
    (mean ± sd over seeds) and the gap recovered against the spread's floor."""
    head = ["arm", "seeds", "layers (per seed)", "train s"]
    for name in evals:
        head += [f"{name} own floor", f"{name} {metric}", f"{name} agreement", f"{name} gap recovered"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm in dict.fromkeys(r["arm"] for r in results):
        rows = [r for r in results if r["arm"] == arm]
        cells = [
            arm,
            ",".join(str(r["seed"]) for r in rows),
            " ".join("{" + ",".join(map(str, r["layers"])) + "}" for r in rows),
            " ".join(f"{r['train_seconds']:.0f}" for r in rows),
        ]
        for name in evals:
            figures = [r["eval"][name][metric] for r in rows]
            cells += [
                mean_sd([r["own_floor"][name] for r in rows]),
                mean_sd(figures),
                mean_sd([r["eval"][name]["agreement"] for r in rows]),
                mean_sd([gap(x, floor[name], teacher[name]) for x in figures]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"teacher {metric}: " + ", ".join(f"{n} {teacher[n]:.4f}" for n in evals)]
    notes.append("floor (the spread's cut student, no training): " + ", ".join(f"{n} {floor[n]:.4f}" for n in evals))
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"


def candidates_table(choice: dict, teacher, student_config, texts: list, labels: np.ndarray, metric: str) -> str:
    """The real floor of every set the choice scored, beside its data-free scores, and how each score ranks them."""
    teacher_logits = evaluate_texts(teacher.model, teacher.tokenizer, texts, CPU).double().numpy()
    rows = []
    for score in choice["scores"]:
        real = floor_metrics(
            teacher, student_config, texts, labels, layers=score["layers"], teacher_logits=teacher_logits
        )
        rows.append({**score, "floor": real[f"eval_{metric}"]})
    floors = np.array([r["floor"] for r in rows])
    lines = ["| layers | agreement | KD | [CLS] cosine | real floor |", "|---|---|---|---|---|"]
    lines += [
        f"| {','.join(map(str, r['layers']))} | {r['agreement']:.4f} | {r['kd']:.4g} | {r['cls_cosine']:.4f} | "
        f"{r['floor']:.4f} |"
        for r in rows
    ]
    if len(rows) > 2:
        ranks = {
            "agreement": spearman(np.array([r["agreement"] for r in rows]), floors),
            "-KD": spearman(-np.array([r["kd"] for r in rows]), floors),
            "[CLS] cosine": spearman(np.array([r["cls_cosine"] for r in rows]), floors),
        }
        lines.append("\nSpearman with the real floor: " + ", ".join(f"{k} {v:.3f}" for k, v in ranks.items()))
    best = max(rows, key=lambda r: r["floor"])
    lines.append(f"\nchosen {choice['chosen']}; best real floor {best['layers']} ({best['floor']:.4f})")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--eval-file", type=Path, action="append", required=True, help="Labelled file (repeatable).")
    parser.add_argument("--text-column", default="sentence", help="A column, or two for pairs: sentence1,sentence2.")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arms", default="spread,auto", help="Comma-separated: spread, auto, spread:3, auto:3, ...")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--seconds", type=float, default=330.0, help="Training budget of every run (the fast one's).")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (none: torch's default).")
    parser.add_argument("--candidates", action="store_true", help="Also the real floor of every scored set.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    arms, seeds = args.arms.split(","), [int(s) for s in args.seeds.split(",")]
    for arm in arms:
        arm_config(arm, 0, args.seconds, args.threads)  # a bad arm stops here, before any training

    teacher = load_teacher(args.teacher)
    config = teacher.model.config.to_dict()
    metric = PRIMARY_METRIC[head_of(config)]
    evals = {path.stem: read_eval(path, args.text_column, args.label_column, config) for path in args.eval_file}
    spread_student = arm_config("spread", 0, args.seconds, args.threads).student
    teacher_figure, floor = {}, {}
    for name, (texts, labels) in evals.items():
        figures = floor_metrics(teacher, spread_student, texts, labels)
        teacher_figure[name], floor[name] = figures[f"teacher_eval_{metric}"], figures[f"eval_{metric}"]

    done_file = args.out / "results.jsonl"
    done = [json.loads(line) for line in done_file.read_text().splitlines()] if done_file.exists() else []
    results = [r for r in done if r["arm"] in arms and r["seed"] in seeds and r["seconds"] == args.seconds]
    for seed in seeds:
        for arm in arms:
            if any(r["arm"] == arm and r["seed"] == seed for r in results):
                continue
            run_config = dataclasses.replace(
                arm_config(arm, seed, args.seconds, args.threads), text_column=args.text_column
            )
            out = args.out / f"{arm.replace(':', '-')}-seed{seed}"
            result = distill(args.teacher, out, run_config, force=True)
            student = load_sequence_classifier(out)
            row = {"arm": arm, "seed": seed, "seconds": args.seconds, "layers": result.student_layers}
            row["train_seconds"] = result.metrics["train_seconds"]
            row["layer_choice"] = result.metrics.get("layer_choice")
            row["eval"], row["own_floor"] = {}, {}
            for name, (texts, labels) in evals.items():
                logits = [
                    evaluate_texts(m, teacher.tokenizer, texts, CPU).double().numpy() for m in (student, teacher.model)
                ]
                figures = eval_metrics(head_of(config), *logits, labels)
                row["eval"][name] = {metric: figures[f"eval_{metric}"], "agreement": figures["eval_agreement"]}
                own = floor_metrics(teacher, run_config.student, texts, labels, layers=result.student_layers)
                row["own_floor"][name] = own[f"eval_{metric}"]
            with done_file.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            results.append(row)
            logger.info("%s seed %d: layers %s, %s", arm, seed, row["layers"], row["eval"])

    table = markdown(results, list(evals), teacher_figure, floor, metric)
    chosen = [r for r in results if r.get("layer_choice")]
    if args.candidates and chosen:
        first = min(chosen, key=lambda r: r["seed"])
        arm_student = arm_config(first["arm"], first["seed"], args.seconds, args.threads).student
        texts, labels = next(iter(evals.values()))
        table += f"\n### Every scored set ({first['arm']}, seed {first['seed']}, {next(iter(evals))})\n\n"
        table += candidates_table(first["layer_choice"], teacher, arm_student, texts, labels, metric)
    (args.out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
