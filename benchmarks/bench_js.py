"""Latency of one student in JavaScript against the Python runtime, side by side in one run.

Three runtimes on the same export folder, the same graph (`--dtype q8`: onnx/model_quantized.onnx, the folder's
model.onnx; `fp32`: onnx/model.onnx) and the same inputs, one after the other on the same machine:

- Python: `asdfd.runtime.Classifier` (onnxruntime, CPU, `--threads` intra-op threads);
- Node: transformers.js on onnxruntime-node (CPU, `--threads` intra-op threads), `js/bench.mjs`;
- Chromium: transformers.js on onnxruntime-web (wasm, `--threads` wasm threads: the page is served cross-origin
  isolated so they are allowed), `js/bench.html` in headless Chromium.

Two measurements each: `graph 1x64`, one model call on a fixed batch of 1 x 64 token ids (the runtime's own
synthetic batch, seed 0, as `compress bench` uses), ms per call over `--runs` calls after `--warmup`; and `dev end
to end`, every sentence of `--eval-file` classified from raw text (tokenize, run, probabilities, labels) in
batches of `--batch-size`, best of `--repeats` passes after an untimed one.

Run on a quiet machine (nothing else running), from the repository root, after `make demo` and with node/npm and
chromium installed (`apt-get install -y chromium`):

    python benchmarks/bench_js.py --model artifacts/demo/student.run/export/ --eval-file data/sst2/dev.tsv \\
        --threads 2 --out artifacts/bench-js

Writes bench_js.json and bench_js.md (the table for docs/js.md) into --out and prints the table. `--skip-browser`
leaves Chromium out.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/js/support.py: the npm install, the page server, the Chromium launcher

from tests.js import support  # noqa: E402

BENCH_PAGE = REPO / "js" / "bench.html"
BENCH_SCRIPT = REPO / "js" / "bench.mjs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="export folder with onnx/ (compress export --out)")
    parser.add_argument("--eval-file", type=Path, default=REPO / "data" / "sst2" / "dev.tsv")
    parser.add_argument("--dtype", choices=("q8", "fp32"), default="q8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=300, help="timed 1x64 calls per runtime")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the eval file per runtime")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench-js")
    args = parser.parse_args()
    if not (args.model / "onnx").is_dir():
        raise SystemExit(
            f"Error: {args.model} has no onnx/ folder: run `compress export ... --out {args.model}/` again"
        )

    from asdfd.core.data import read_labelled_file
    from asdfd.runtime import Classifier

    graph = args.model / "onnx" / ("model_quantized.onnx" if args.dtype == "q8" else "model.onnx")
    classifier = Classifier.load(graph, threads=args.threads)
    texts = read_labelled_file(args.eval_file).texts
    batch = classifier.encoder.synthetic_batch(1, 64, seed=0)
    ids = {name: batch[name][0].tolist() for name in ("input_ids", "attention_mask", "token_type_ids") if name in batch}
    spec = {
        "dtype": args.dtype,
        "threads": args.threads,
        "ids": ids,
        "texts": texts,
        "runs": args.runs,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "batchSize": args.batch_size,
    }

    support.ensure_js_installed()
    results = {"python": _python(classifier, batch, texts, args)}
    results["node"] = _node({**spec, "folder": str(args.model.resolve())})
    if not args.skip_browser:
        results["chromium"] = _chromium({**spec, "folder": "student"}, args.model)

    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "model": str(args.model),
        "graph": str(graph),
        "eval_file": str(args.eval_file),
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "args": {k: str(v) for k, v in vars(args).items()},
        "results": results,
    }
    (args.out / "bench_js.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    table = _table(results, args, len(texts))
    (args.out / "bench_js.md").write_text(table + "\n", encoding="utf-8")
    print(table)


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731 (the JS side's definition)
    return {"mean": statistics.fmean(values), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "n": len(values)}


def _python(classifier: Any, batch: dict, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import onnxruntime

    for _ in range(args.warmup):
        classifier.run(batch)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        classifier.run(batch)
        times.append((time.perf_counter() - start) * 1000)
    classifier.predict(texts, batch_size=args.batch_size)
    passes = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        classifier.predict(texts, batch_size=args.batch_size)
        passes.append(time.perf_counter() - start)
    best = min(passes)
    return {
        "runtime": f"python {platform.python_version()}, onnxruntime {onnxruntime.__version__} (cpu), "
        f"{args.threads} threads",
        "graph_1x64_ms": _stats(times),
        "dev_e2e": {"texts": len(texts), "seconds": passes, "best_s": best, "texts_per_s": len(texts) / best},
    }


def _node(spec: dict[str, Any]) -> dict[str, Any]:
    if shutil.which("node") is None:
        return {"error": "node not on PATH"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        done = subprocess.run(["node", str(BENCH_SCRIPT), str(path)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _chromium(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    chromium = support.find_chromium()
    if chromium is None:
        return {"error": "no chromium on PATH (apt-get install -y chromium)"}
    with tempfile.TemporaryDirectory() as tmp:
        answer = support.run_page(
            chromium, {"student": folder}, spec, Path(tmp), timeout=1800, page=BENCH_PAGE, isolated=True
        )
    return answer["results"] if answer.get("ok") else {"error": answer.get("error", "no answer")}


def _table(results: dict[str, dict[str, Any]], args: argparse.Namespace, count: int) -> str:
    rows = [
        f"| runtime | graph 1×64 p50 ms | p90 ms | dev {count} end to end, s | sentences/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        if "error" in result:
            rows.append(f"| {name}: {result['error'][:80]} | | | | |")
            continue
        graph, dev = result["graph_1x64_ms"], result.get("dev_e2e", {})
        rows.append(
            f"| {result.get('runtime', name)} | {graph['p50']:.2f} | {graph['p90']:.2f} | "
            f"{dev.get('best_s', float('nan')):.2f} | {dev.get('texts_per_s', float('nan')):.0f} |"
        )
    note = (
        f"\n{args.model} ({args.dtype}), {args.threads} threads, batch size {args.batch_size} for the dev set; "
        f"`python benchmarks/bench_js.py --model {args.model} --dtype {args.dtype} --threads {args.threads}`"
    )
    return "\n".join(rows) + note


if __name__ == "__main__":
    main()
