"""Benchmark of the AS-DFD distiller on a real teacher: every method row at the same wall-clock budget.

    python benchmarks/bench_distill.py --teacher artifacts/teacher-sst2 --out artifacts/bench-distill

For each student depth and seed, each row distills with the same training-time budget (`--seconds`,
stage-1 synthesis included, evaluation excluded), then the student is scored on real labelled text it
never saw (SST-2 dev and, with `--heldout FILE` or `--heldout-from FULL_TRAIN`, a held-out set: for SST-2 the
rows of the full train file (not shipped with the repository) not in data/sst2/train.tsv). Reported:
accuracy, agreement with the teacher, retention (student / teacher) and gap recovered
((student - floor) / (teacher - floor)). Results are appended to
`<out>/results.jsonl` as each row finishes (a re-run skips rows already there) and tabulated in
`<out>/results.md`. Real text is used only here, for reporting: never to train or select.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from asdfd.compressor import DistillConfig, StudentConfig, distill, load_teacher
from asdfd.compressor.devices import Placement
from asdfd.compressor.diagnostics import eval_label_ids, evaluate_texts
from asdfd.compressor.synthesis import method_config
from asdfd.core.data import read_labelled_file
from asdfd.core.model_folder import LOCAL_ONLY

logger = logging.getLogger("bench_distill")


# Each row: a function of the common base config (budget, student, seed, lr 1e-4) -> the row's config.
# Rows that measured the uniform-token methods pin vocab_prior, so they keep their meaning as defaults change.
_DEFAULT = DistillConfig()
_FAST = DistillConfig.for_budget("fast")
_UNIFORM = dict(vocab_prior="uniform")


def _method(config: DistillConfig, name: str, **options) -> DistillConfig:
    """`config` with synthesis method `name` (its default options, with `options` changed)."""
    return dataclasses.replace(config, method=name, synthesis=method_config(name)(**options))


def _fast_training(config: DistillConfig) -> DistillConfig:
    """`config` with the fast budget's learning rate, loss weights, token prior and precision."""
    return dataclasses.replace(
        config, lr=_FAST.lr, hidden_weight=_FAST.hidden_weight, vocab_prior=_FAST.vocab_prior, precision=_FAST.precision
    )


def _with_dropout(config: DistillConfig) -> DistillConfig:
    """`config` with the student trained under the teacher's dropout (every default until session 10)."""
    return dataclasses.replace(config, student=dataclasses.replace(config.student, dropout=True))


ROWS = {
    "floor": lambda c: dataclasses.replace(c, steps=0),
    "random-kd": lambda c: dataclasses.replace(_method(c, "random-tokens"), hidden_weight=0.0, **_UNIFORM),
    "random-kd+hidden": lambda c: dataclasses.replace(_method(c, "random-tokens"), hidden_weight=1.0, **_UNIFORM),
    "random-kd+hidden+zipf": lambda c: dataclasses.replace(
        _method(c, "random-tokens"), hidden_weight=1.0, vocab_prior="zipf"
    ),
    "stage1": lambda c: dataclasses.replace(
        _method(c, "asdfd", use_stage2=False, random_token_fraction=0.0), hidden_weight=0.0, **_UNIFORM
    ),
    "asdfd": lambda c: dataclasses.replace(
        _method(c, "asdfd", random_token_fraction=0.0), hidden_weight=0.0, **_UNIFORM
    ),
    "asdfd+mix+hidden": lambda c: dataclasses.replace(
        _method(c, "asdfd", random_token_fraction=0.5), hidden_weight=1.0, **_UNIFORM
    ),
    "stage1+mix+hidden": lambda c: dataclasses.replace(
        _method(c, "asdfd", use_stage2=False, random_token_fraction=0.5), hidden_weight=1.0, **_UNIFORM
    ),
    # The fast budget's default until 2026-12-01 (session 4), pinned: random tokens by the Zipf prior, fp32.
    "baseline": lambda c: _with_dropout(
        dataclasses.replace(
            _method(c, "random-tokens"), lr=3e-4, hidden_weight=1.0, vocab_prior="zipf", precision="fp32"
        )
    ),
    # The fast budget's synthesis as shipped now (method and its options, lr, loss weights, token prior, precision).
    "fast": lambda c: _fast_training(dataclasses.replace(c, method=_FAST.method, synthesis=_FAST.synthesis)),
    # The fast budget's synthesis until 2026-12-07 (session 8), pinned: half random tokens, half words (bf16), and
    # the student trained with the teacher's dropout (as until session 10).
    "mix": lambda c: _with_dropout(_fast_training(_method(c, "mix"))),
    # The input forms chosen by the teacher (compressor/synthesis/forms.py), otherwise as "fast".
    "forms": lambda c: _fast_training(_method(c, "forms")),
    # Forms paid by novelty, single-text words split into "##" pieces (session 9; "fast" in its results files).
    "forms-novelty": lambda c: _fast_training(_method(c, "forms", novelty_scale=0.5, word_pieces=0.1)),
    "random-kd+hidden+words": lambda c: dataclasses.replace(
        _method(c, "random-tokens"), hidden_weight=1.0, vocab_filter="words", **_UNIFORM
    ),
    # The library default (DistillConfig()): method and its options, loss weights, token prior and learning rate.
    "default": lambda c: dataclasses.replace(
        c,
        method=_DEFAULT.method,
        synthesis=_DEFAULT.synthesis,
        lr=_DEFAULT.lr,
        hidden_weight=_DEFAULT.hidden_weight,
        vocab_prior=_DEFAULT.vocab_prior,
    ),
}


def row_config(row: str, base: DistillConfig) -> DistillConfig:
    """ "name" or "name@field=value@..." (DistillConfig fields, e.g. "default@lr=3e-4", or the student's, e.g.
    "forms@student.dropout=false"; "@layers=auto": the teacher chooses that many layers, `--student-layers auto:N`)."""
    name, *overrides = row.split("@")
    config = ROWS[name](base)
    for override in overrides:
        field_name, value = override.split("=", 1)
        if field_name == "layers" and value == "auto":  # the teacher chooses as many layers as --layers lists
            student = dataclasses.replace(
                config.student, layers=None, num_layers=len(config.student.layers), layer_choice="auto"
            )
            config = dataclasses.replace(config, student=student)
            continue
        owner, _, field_name = field_name.rpartition(".")  # "student.dropout": a field of the student's config
        if owner not in ("", "student"):
            raise ValueError(f"row override {override!r}: only DistillConfig and student fields")
        target = config.student if owner else config
        current = getattr(target, field_name)
        if isinstance(current, bool):
            parsed = value.lower() in ("1", "true", "yes")
        else:
            parsed = type(current)(value) if current is not None else value
        target = dataclasses.replace(target, **{field_name: parsed})
        config = dataclasses.replace(config, student=target) if owner else target
    return config


def build_heldout(
    full_train: Path | None, teacher_train: Path, out: Path, rows: int, *, text_column: str, seed: int = 0
) -> Path | None:
    """Rows of a full train file that the teacher never saw (a lower-noise second yardstick), or None."""
    if out.is_file():
        return out
    if full_train is None or not full_train.is_file() or not teacher_train.is_file():
        logger.info("no --heldout-from file: skipping the held-out yardstick built from it")
        return None
    seen = set(read_labelled_file(teacher_train, text_column=text_column).texts)
    full = read_labelled_file(full_train, text_column=text_column)
    unseen = [(t, y) for t, y in zip(full.texts, full.labels, strict=True) if t not in seen]
    random.Random(seed).shuffle(unseen)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{text_column}\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in unseen[:rows]), encoding="utf-8")
    logger.info("held-out file %s: %d of %d unseen rows", out, min(rows, len(unseen)), len(unseen))
    return out


class Scorer:
    """Real-text accuracy and agreement, with the teacher's predictions computed once per file."""

    def __init__(self, teacher_dir: Path, files: dict[str, Path], text_column: str = "sentence") -> None:
        self.placement = Placement(device=torch.device("cpu"), precision="fp32")
        teacher = load_teacher(teacher_dir)
        self.tokenizer = teacher.tokenizer
        self.sets = {}
        for name, path in files.items():
            data = read_labelled_file(path, text_column=text_column)
            labels = torch.tensor(eval_label_ids(data.labels, teacher.model.config.id2label, path))
            predictions = evaluate_texts(teacher.model, self.tokenizer, data.texts, self.placement).argmax(-1)
            self.sets[name] = (data.texts, labels, predictions)
            logger.info("teacher accuracy on %s: %.4f", name, float((predictions == labels).float().mean()))

    def teacher_accuracy(self) -> dict[str, float]:
        return {name: float((p == y).float().mean()) for name, (_, y, p) in self.sets.items()}

    def score(self, student_dir: Path) -> dict[str, float]:
        from transformers import AutoModelForSequenceClassification

        student = AutoModelForSequenceClassification.from_pretrained(student_dir, **LOCAL_ONLY)
        out = {}
        for name, (texts, labels, teacher_predictions) in self.sets.items():
            predictions = evaluate_texts(student, self.tokenizer, texts, self.placement).argmax(-1)
            out[f"{name}_accuracy"] = float((predictions == labels).float().mean())
            out[f"{name}_agreement"] = float((predictions == teacher_predictions).float().mean())
        return out


def markdown_table(results: list[dict], teacher: dict[str, float]) -> str:
    sets = list(teacher)
    header = ["layers", "row", "seed", "steps", "train s"]
    for name in sets:
        header += [f"{name} acc", f"{name} agree", f"{name} retention", f"{name} gap recovered"]
    header += ["heldout-random agree", "heldout-pseudo agree"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    floors = {(r["layers"], r["seed"]): r for r in results if r["row"] == "floor"}
    for r in results:
        floor = floors.get((r["layers"], r["seed"]))
        cells = [r["layers"], r["row"], str(r["seed"]), str(r["steps"]), f"{r['train_seconds']:.0f}"]
        for name in sets:
            accuracy = r[f"{name}_accuracy"]
            cells += [f"{accuracy:.4f}", f"{r[f'{name}_agreement']:.4f}", f"{accuracy / teacher[name]:.3f}"]
            if floor is not None and teacher[name] > floor[f"{name}_accuracy"]:
                gap = (accuracy - floor[f"{name}_accuracy"]) / (teacher[name] - floor[f"{name}_accuracy"])
                cells.append(f"{gap:+.2f}")
            else:
                cells.append("-")
        cells += [
            "-" if r.get(key) is None else f"{r[key]:.3f}"
            for key in ("heldout_random_agreement", "heldout_pseudo_agreement")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    teacher_line = ", ".join(f"{name} {value:.4f}" for name, value in teacher.items())
    return (
        f"Teacher accuracy: {teacher_line}\n\n"
        + seed_summary(results, teacher)
        + "\nEvery row:\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _mean_sd(values: list[float]) -> str:
    spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.4f}{spread}"


def seed_summary(results: list[dict], teacher: dict[str, float]) -> str:
    """Mean ± sample standard deviation over seeds of each (layers, row): the comparison the verdict rests on."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["layers"], r["row"]), []).append(r)
    sets = list(teacher)
    header = ["layers", "row", "seeds", "mean steps"]
    for name in sets:
        header += [f"{name} acc", f"{name} gap recovered"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (layers, row), rows in groups.items():
        cells = [layers, row, str(len(rows)), f"{statistics.fmean(r['steps'] for r in rows):.0f}"]
        floors = {r["seed"]: r for r in results if r["layers"] == layers and r["row"] == "floor"}
        for name in sets:
            cells.append(_mean_sd([r[f"{name}_accuracy"] for r in rows]))
            # Gap recovered per seed against that seed's floor (the floor does not depend on the seed today).
            gaps = [
                (r[f"{name}_accuracy"] - floors[r["seed"]][f"{name}_accuracy"])
                / (teacher[name] - floors[r["seed"]][f"{name}_accuracy"])
                for r in rows
                if r["seed"] in floors and teacher[name] > floors[r["seed"]][f"{name}_accuracy"]
            ]
            cells.append(f"{statistics.fmean(gaps):+.2f}" if gaps else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "Mean (± sd) over seeds:\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dev", type=Path, default=Path("data/sst2/dev.tsv"))
    parser.add_argument("--heldout", type=Path, default=None, help="A labelled held-out file the teacher never saw.")
    parser.add_argument(
        "--heldout-from",
        type=Path,
        default=None,
        help="Build the held-out file from the rows of this full train file not in --teacher-train.",
    )
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument(
        "--ffn", type=float, default=1.0, help="Share of FFN neurons the students keep (the fast budget: 0.667)."
    )
    parser.add_argument("--teacher-train", type=Path, default=Path("data/sst2/train.tsv"))
    parser.add_argument("--heldout-rows", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=240.0, help="Training budget per row.")
    parser.add_argument("--layers", default="0,2,5;0,5", help="Student layer lists separated by ';'.")
    parser.add_argument(
        "--rows",
        default="floor,random-kd,stage1,asdfd,asdfd+mix+hidden,default",
        help="Comma-separated ROWS names, each optionally with @field=value overrides.",
    )
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core CPU).")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="*",
        default=[],
        help="results.jsonl files of other runs (e.g. one process per depth) to add to the table.",
    )
    parser.add_argument(
        "--base",
        choices=["default", "fast"],
        default="fast",
        help="Config the rows start from (their budget is --seconds either way).",
    )
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    torch.set_num_threads(args.threads)
    files = {"dev": args.dev}
    heldout = args.heldout or build_heldout(
        args.heldout_from, args.teacher_train, args.out / "heldout.tsv", args.heldout_rows, text_column=args.text_column
    )
    if heldout is not None:
        files["heldout"] = heldout
    scorer = Scorer(args.teacher, files, args.text_column)
    results_path = args.out / "results.jsonl"
    results = [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.is_file() else []
    done = {(r["layers"], r["row"], r["seed"]) for r in results}
    for other in args.merge:
        results += [
            r for r in map(json.loads, other.read_text().splitlines()) if (r["layers"], r["row"], r["seed"]) not in done
        ]
        done = {(r["layers"], r["row"], r["seed"]) for r in results}
    for layers_text in args.layers.split(";"):
        layers = tuple(int(x) for x in layers_text.split(","))
        for seed in (int(s) for s in args.seeds.split(",")):
            for row in args.rows.split(","):
                key = (layers_text, row, seed)
                if key in done:
                    continue
                base = DistillConfig.for_budget("fast") if args.base == "fast" else DistillConfig()
                base = dataclasses.replace(
                    base,
                    student=StudentConfig(layers=layers, ffn_fraction=args.ffn),
                    seed=seed,
                    steps=100_000,
                    lr=1e-4,
                    max_seconds=args.seconds,
                    threads=args.threads,
                    show_progress=False,
                    heldout_random=256,
                    eval_every=10_000,
                    checkpoint_every=10_000,
                )
                config = row_config(row, base)
                student_dir = args.out / f"l{layers_text.replace(',', '')}" / f"{row}-s{seed}"
                student_dir.parent.mkdir(parents=True, exist_ok=True)
                logger.info("row %s layers %s seed %d", row, layers_text, seed)
                started = time.perf_counter()
                result = distill(args.teacher, student_dir, config, force=True)
                record = {
                    "layers": layers_text,
                    "row": row,
                    "seed": seed,
                    "steps": result.metrics["steps"],
                    "train_seconds": result.metrics["train_seconds"],
                    "wall_seconds": round(time.perf_counter() - started, 1),
                    "heldout_random_agreement": result.metrics.get("heldout_random_agreement"),
                    "heldout_pseudo_agreement": result.metrics.get("heldout_pseudo_agreement"),
                    "synthetic": {k: v for k, v in result.metrics.items() if k.startswith("heldout_")},
                    **scorer.score(student_dir),
                    "config": config.to_dict(),
                }
                logger.info("result %s", {k: v for k, v in record.items() if k != "config"})
                with results_path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
                results.append(record)
                (args.out / "results.md").write_text(markdown_table(results, scorer.teacher_accuracy()))
    (args.out / "results.md").write_text(markdown_table(results, scorer.teacher_accuracy()))
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
