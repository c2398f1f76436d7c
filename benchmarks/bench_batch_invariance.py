"""Batch invariance of the exported student: the old batched dynamic int8 against the runtime's
batch-invariant ways of running int8, side by side, in one run.

    .venv/bin/python benchmarks/bench_batch_invariance.py --student artifacts/demo/student.run/student \
        --text-file data/sst2/dev.tsv --out artifacts/bench-invariance

(`--teacher DIR` instead of `--student` truncates a 3-layer student from the teacher, layers 0, 2, 5, undistilled.)
It exports the student three ways with `export_onnx` (fp32, `--quantize int8`: dynamic, `--quantize int8-fixed`) and
measures four rows, round-robin over `--rounds` rounds (best round kept), `--threads` intra-op threads:

- int8 dynamic, batched: `Classifier.load(..., batch_invariant=False)`, the runtime before (per-batch scales);
- int8 dynamic, one text per run: the default now (`Classifier.load(path)`);
- int8-fixed, batched: static int8 with fixed scales (FFN outputs and attention fp32), invariant as a graph;
- fp32, batched: the reference for agreement.

Columns: file size; p50 latency of `Classifier.run` on a generated batch 1 x 64 tokens and 32 x 64 tokens; throughput
(texts/s) of `predict_logits` over the text file at batch 32; argmax agreement and max |prob diff| with fp32 (each
text alone); accuracy when the file has labels; and the invariance count: texts whose label, or whose probabilities
(any bit), differ between `predict([t])` and `predict(texts, batch_size=32)`. Prints a Markdown table (also written to
OUT/results.md, raw figures to OUT/results.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_export import truncated_student  # noqa: E402

from asdfd.core.data import read_labelled_file  # noqa: E402
from asdfd.export import ExportConfig, export_onnx  # noqa: E402
from asdfd.runtime import Classifier  # noqa: E402

logger = logging.getLogger("bench_batch_invariance")

ROWS = (
    ("int8 dynamic, batched (before)", "int8", False),
    ("int8 dynamic, one text per run (default now)", "int8", True),
    ("int8-fixed, batched", "int8-fixed", True),
    ("fp32, batched", "none", True),
)
"""(row name, --quantize, Classifier batch_invariant)."""


def p50_ms(classifier: Classifier, batch: dict[str, np.ndarray], runs: int) -> float:
    for _ in range(3):
        classifier.run(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        classifier.run(batch)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def texts_per_second(classifier: Classifier, texts: list, batch_size: int) -> float:
    classifier.predict_logits(texts[:batch_size], batch_size)  # warm-up
    start = time.perf_counter()
    classifier.predict_logits(texts, batch_size)
    return len(texts) / (time.perf_counter() - start)


def alone_probabilities(classifier: Classifier, texts: list) -> np.ndarray:
    return np.concatenate([classifier.predict_proba([text]) for text in texts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--student", type=Path, help="Student folder (Hugging Face layout) to export.")
    source.add_argument("--teacher", type=Path, help="Teacher folder: a 3-layer student is truncated from it.")
    parser.add_argument("--text-file", type=Path, default=Path("data/sst2/dev.tsv"))
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument("--label-column", default="label", help="'' if the file has no labels.")
    parser.add_argument("--max-texts", type=int, default=0, help="Use the first N texts (0: all).")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench-invariance"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="Round-robin rounds; the best is kept.")
    parser.add_argument("--runs", type=int, default=50, help="Timed runs per latency cell and round (batch 32: /8).")
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    args.out.mkdir(parents=True, exist_ok=True)
    student = args.student or truncated_student(args.teacher, args.out / "student-truncated", [0, 2, 5])
    data = read_labelled_file(
        args.text_file,
        text_column=args.text_column,
        label_column=args.label_column or None,
        require_labels=bool(args.label_column),
    )
    texts = list(data.texts)[: args.max_texts or None]
    labels = None
    if args.label_column and data.labels and all(str(label).isdigit() for label in data.labels):
        labels = np.array([int(label) for label in data.labels][: len(texts)])  # class indices (SST-2: 0/1)

    exports = {}
    for quantize in dict.fromkeys(q for _, q, _ in ROWS):
        started = time.perf_counter()
        result = export_onnx(
            student, args.out / f"student-{quantize}.onnx", ExportConfig(quantize=quantize), force=True
        )
        exports[quantize] = result
        logger.info(
            "exported %s: %s, %.1f MB in %.0f s",
            quantize,
            result.variant,
            result.size_mb,
            time.perf_counter() - started,
        )

    classifiers = {
        name: Classifier.load(exports[q].path, threads=args.threads, batch_invariant=b) for name, q, b in ROWS
    }
    first = next(iter(classifiers.values()))
    short = first.encoder.synthetic_batch(1, min(args.seq_len, first.max_length))
    wide = first.encoder.synthetic_batch(args.batch_size, min(args.seq_len, first.max_length), seed=1)
    timings: dict[str, dict[str, list[float]]] = {name: {"b1": [], "b32": [], "tps": []} for name in classifiers}
    for round_ in range(args.rounds):
        for name, classifier in classifiers.items():
            timings[name]["b1"].append(p50_ms(classifier, short, args.runs))
            timings[name]["b32"].append(p50_ms(classifier, wide, max(3, args.runs // 8)))
            timings[name]["tps"].append(texts_per_second(classifier, texts, args.batch_size))
        logger.info("timing round %d of %d done", round_ + 1, args.rounds)

    reference = alone_probabilities(classifiers["fp32, batched"], texts)
    results = []
    for name, quantize, invariant in ROWS:
        classifier = classifiers[name]
        alone = alone_probabilities(classifier, texts)
        batched = classifier.predict_proba(texts, batch_size=args.batch_size)
        row = {
            "model": name,
            "quantize": quantize,
            "variant": exports[quantize].variant,
            "batch_invariant_option": invariant,
            "size_mb": exports[quantize].size_mb,
            "p50_ms_b1": min(timings[name]["b1"]),
            "p50_ms_b32": min(timings[name]["b32"]),
            "texts_per_s": max(timings[name]["tps"]),
            "agreement_fp32": float((alone.argmax(1) == reference.argmax(1)).mean()),
            "max_prob_diff_fp32": float(np.abs(alone - reference).max()),
            "accuracy": None if labels is None else float((alone.argmax(1) == labels).mean()),
            "labels_changed": int((alone.argmax(1) != batched.argmax(1)).sum()),
            "probabilities_changed": int((alone != batched).any(axis=1).sum()),
            "num_texts": len(texts),
        }
        results.append(row)

    header = (
        f"{len(texts)} texts of {args.text_file}; {args.threads} threads; p50 of `Classifier.run` on a generated batch "
        f"of 1 x {args.seq_len} and {args.batch_size} x {args.seq_len} tokens; throughput: `predict_logits` at batch "
        f"{args.batch_size}; best of {args.rounds} round-robin rounds.\n\n"
        "| model | variant | size MB | p50 ms b=1 | p50 ms b=32 | texts/s | agreement vs fp32 | max prob diff vs fp32 "
        "| accuracy | labels changed alone vs batched | probabilities changed |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r['model']} | {r['variant']} | {r['size_mb']:.1f} | {r['p50_ms_b1']:.2f} | {r['p50_ms_b32']:.1f} "
        f"| {r['texts_per_s']:,.0f} | {r['agreement_fp32']:.4f} | {r['max_prob_diff_fp32']:.2e} "
        f"| {'-' if r['accuracy'] is None else format(r['accuracy'], '.4f')} "
        f"| {r['labels_changed']} of {r['num_texts']} | {r['probabilities_changed']} of {r['num_texts']} |"
        for r in results
    ]
    table = header + "\n".join(lines) + "\n"
    (args.out / "results.md").write_text(table, encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
