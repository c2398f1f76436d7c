"""`BenchReport`: the benchmark's figures as report.json, report.md, latency.png and a printed table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asdfd.core._io import atomic_file, write_json_atomic
from asdfd.core.heads import MULTI_LABEL, PRIMARY_METRIC, SCORE, SINGLE_LABEL
from asdfd.runtime.bench.plot import plot_report

__all__ = ["BenchReport"]

_TEACHER_PYTORCH = "teacher PyTorch fp32"
_COLUMN = {"accuracy": "accuracy", "micro_f1": "micro F1", "pearson": "Pearson"}
"""Summary column of each head's figure against the labels (asdfd.core.heads.PRIMARY_METRIC)."""
_AGREEMENT_COLUMN = {SINGLE_LABEL: "agreement", MULTI_LABEL: "label agreement", SCORE: "Pearson vs teacher"}
_HEAD_COLUMNS = {
    MULTI_LABEL: [
        ("micro F1", "micro_f1", 4),
        ("macro F1", "macro_f1", 4),
        ("agreement", "agreement", 4),
        ("exact agreement", "exact_agreement", 4),
        ("mean KL", "mean_kl", 5),
    ],
    SCORE: [
        ("Pearson", "pearson", 4),
        ("Spearman", "spearman", 4),
        ("Pearson vs teacher", "agreement", 4),
        ("Spearman vs teacher", "spearman_vs_teacher", 4),
        ("MSE vs teacher", "mse_vs_teacher", 5),
    ],
}
"""Quality table of the multi-label and score heads: (column, key of `task_quality`, digits)."""


@dataclass
class BenchReport:
    """All figures of one `run_bench`; plain JSON-ready data (lists and dicts), no model objects."""

    config: dict[str, Any]
    environment: dict[str, Any]
    models: list[dict[str, Any]]
    """Per model: name, role (teacher/baseline/student), kind, path, size_mb, num_params, max_length."""
    latency: list[dict[str, Any]]
    """Per model × batch_size × seq_len: {"latency": {count, mean, stdev, p50, p90, p95, p99, unit}}."""
    throughput: list[dict[str, Any]]
    """Per model: texts_per_s end to end (tokenization included), single stream."""
    saturated: list[dict[str, Any]] = field(default_factory=list)
    """Per model × streams: texts_per_s with `streams` concurrent single-threaded streams."""
    thread_sweep: list[dict[str, Any]] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    estimate: dict[str, Any] = field(default_factory=dict)
    """The student's data-free quality estimate (asdfd.compressor.quality_estimate), when `compress run` made it."""
    distillation: dict[str, Any] = field(default_factory=dict)
    """How `compress run` distilled the student: method, layers, steps, and the input forms' shares and why."""

    # ------------------------------------------------------------------ derived figures
    def _baselines(self) -> list[str]:
        return [m["name"] for m in self.models if m["role"] in ("teacher", "baseline")]

    def speedups(self) -> list[dict[str, Any]]:
        """p50 latency of each baseline divided by each model's, per batch × seq_len (>1: faster)."""
        p50 = {(r["model"], r["batch_size"], r["seq_len"]): r["latency"]["p50"] for r in self.latency}
        rows = []
        for (model, batch_size, seq_len), value in p50.items():
            ratios = {
                base: p50[(base, batch_size, seq_len)] / value
                for base in self._baselines()
                if (base, batch_size, seq_len) in p50
            }
            rows.append({"model": model, "batch_size": batch_size, "seq_len": seq_len, "p50_speedup_vs": ratios})
        return rows

    def headline_cell(self) -> tuple[int, int] | None:
        """(batch_size, seq_len) the summary quotes: 1 × 64 when measured."""
        cells = sorted({(r["batch_size"], r["seq_len"]) for r in self.latency})
        if not cells:
            return None
        if (1, 64) in cells:
            return (1, 64)
        smallest = min(b for b, _ in cells)
        lens = sorted(s for b, s in cells if b == smallest)
        return (smallest, lens[len(lens) // 2])

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "environment": self.environment,
            "models": self.models,
            "latency": self.latency,
            "speedups": self.speedups(),
            "throughput": self.throughput,
            "saturated": self.saturated,
            "thread_sweep": self.thread_sweep,
            "quality": self.quality,
            "notes": self.notes,
            "estimate": self.estimate,
            "distillation": self.distillation,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> BenchReport:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in payload.items() if k in names})

    # ------------------------------------------------------------------ rows shared by md and rich
    def summary_rows(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the one-table summary (one row per model)."""
        cell = self.headline_cell()
        p50 = {
            r["model"]: r["latency"]["p50"] for r in self.latency if cell and (r["batch_size"], r["seq_len"]) == cell
        }
        speed = {r["model"]: r["texts_per_s"] for r in self.throughput}
        quality = self.quality.get("models", {})
        labelled = self.quality.get("labelled", False)
        head = self.quality.get("head", SINGLE_LABEL)
        primary = PRIMARY_METRIC[head]
        cell_name = f"b{cell[0]}×{cell[1]}" if cell else "-"
        reference = _TEACHER_PYTORCH if _TEACHER_PYTORCH in p50 else next(iter(p50), None)
        header = [
            "model",
            "size MB",
            "params M",
            f"p50 ms {cell_name}",
            f"speedup vs {reference or '-'}",
            "texts/s",
            _COLUMN[primary] if labelled else f"{_COLUMN[primary]} (no labels)",
            _AGREEMENT_COLUMN[head],
        ]
        rows = []
        for model in self.models:
            name = model["name"]
            q = quality.get(name, {})
            rows.append(
                [
                    name,
                    f"{model['size_mb']:.1f}",
                    f"{model['num_params'] / 1e6:.2f}" if model.get("num_params") else "-",
                    f"{p50[name]:.2f}" if name in p50 else "-",
                    f"{p50[reference] / p50[name]:.2f}×" if name in p50 and reference in p50 else "-",
                    f"{speed[name]:.0f}" if name in speed else "-",
                    f"{q[primary]:.4f}" if q.get(primary) is not None else "-",
                    f"{q['agreement']:.4f}" if "agreement" in q else "-",
                ]
            )
        return header, rows

    def summary_table(self):
        """The summary as a `rich.table.Table` (rich imported here: the CLI prints it)."""
        from rich.table import Table

        header, rows = self.summary_rows()
        table = Table(title="compress bench: summary")
        for index, column in enumerate(header):
            table.add_column(column, justify="left" if index == 0 else "right", no_wrap=index == 0)
        for row in rows:
            table.add_row(*row)
        return table

    def to_markdown(self) -> str:
        """report.md: environment, models, latency, throughput, quality, notes."""
        env = self.environment
        lines = ["# Benchmark report", ""]
        features = ", ".join(f for f, present in env.get("cpu_features", {}).items() if present) or "-"
        lines += [
            f"- CPU: {env.get('cpu_model')} ({env.get('physical_cores')} physical / "
            f"{env.get('logical_cores')} logical cores, {env.get('usable_cores')} usable); features: {features}",
            f"- threads: {env.get('threads')}; onnxruntime providers: "
            f"{', '.join(env.get('onnxruntime_providers', []))}",
            f"- 1-min load average (start → end): {env.get('load_average_1m', {}).get('start')} → "
            f"{env.get('load_average_1m', {}).get('end')}; cores kept busy by other processes while it ran: "
            f"{env.get('other_processes_busy_cores')}",
            "- packages: " + ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v),
            "- latency: fixed-shape batches of random token ids (no padding), warmup then repeated runs, "
            "models interleaved round-robin in blocks of 10 runs after a 50 ms pause; end-to-end throughput includes "
            "tokenization.",
            "",
        ]
        header, rows = self.summary_rows()
        lines += ["## Summary", "", *_md_table(header, rows), ""]
        lines += [
            "## Models",
            "",
            *_md_table(
                ["model", "role", "kind", "size MB", "params", "max length", "path"],
                [
                    [
                        m["name"],
                        m["role"],
                        m["kind"],
                        f"{m['size_mb']:.2f}",
                        str(m.get("num_params") or "-"),
                        str(m.get("max_length")),
                        f"`{m['path']}`",
                    ]
                    for m in self.models
                ],
            ),
            "",
        ]
        speedups = {(r["model"], r["batch_size"], r["seq_len"]): r["p50_speedup_vs"] for r in self.speedups()}
        baselines = self._baselines()
        lines += [
            "## Latency (ms)",
            "",
            *_md_table(
                ["batch", "seq len", "model", "p50", "p90", "p99", "mean ± stdev", "n"]
                + [f"× vs {b}" for b in baselines],
                [
                    [
                        str(r["batch_size"]),
                        str(r["seq_len"]),
                        r["model"],
                        f"{r['latency']['p50']:.2f}",
                        f"{r['latency']['p90']:.2f}",
                        f"{r['latency']['p99']:.2f}",
                        f"{r['latency']['mean']:.2f} ± {r['latency']['stdev']:.2f}",
                        str(r["latency"]["count"]),
                    ]
                    + [
                        f"{speedups[(r['model'], r['batch_size'], r['seq_len'])].get(b, float('nan')):.2f}"
                        for b in baselines
                    ]
                    for r in self.latency
                ],
            ),
            "",
        ]
        lines += [
            "## Throughput (texts/s, end to end)",
            "",
            *_md_table(
                ["model", "mode", "batch", "threads", "texts/s"],
                [
                    [r["model"], "single stream", str(r["batch_size"]), str(r["threads"]), f"{r['texts_per_s']:.1f}"]
                    for r in self.throughput
                ]
                + [
                    [
                        r["model"],
                        f"{r['streams']} stream{'s' if r['streams'] > 1 else ''} × 1 thread",
                        str(r["batch_size"]),
                        str(r["streams"]),
                        f"{r['texts_per_s']:.1f}",
                    ]
                    for r in self.saturated
                ],
            ),
            "",
        ]
        if self.thread_sweep:
            lines += [
                "## Thread sweep (single stream, batch 1)",
                "",
                *_md_table(
                    ["model", "threads", "seq len", "p50 ms", "p99 ms"],
                    [
                        [
                            r["model"],
                            str(r["threads"]),
                            str(r["seq_len"]),
                            f"{r['latency']['p50']:.2f}",
                            f"{r['latency']['p99']:.2f}",
                        ]
                        for r in self.thread_sweep
                    ],
                ),
                "",
            ]
        lines += self._quality_markdown()
        lines += self._distillation_markdown()
        if self.estimate:
            lines += ["## Data-free quality estimate", "", self.estimate.get("summary", ""), ""]
            probes = self.estimate.get("probes") or {}
            if probes:
                lines += [
                    "Student's macro agreement with the teacher on each synthetic probe (never trained on):",
                    "",
                    *_md_table(["probe", "agreement"], [[name, f"{value:.3f}"] for name, value in probes.items()]),
                    "",
                ]
        if self.notes:
            lines += ["## Notes", "", *[f"- {note}" for note in self.notes], ""]
        return "\n".join(lines)

    def _distillation_markdown(self) -> list[str]:
        d = self.distillation
        if not d:
            return []
        layers = ", ".join(str(layer) for layer in d.get("student_layers", []))
        lines = [
            "## Distillation",
            "",
            f"Method `{d.get('method')}`, teacher layers {{{layers}}} kept, {d.get('steps')} steps in "
            f"{d.get('train_seconds')} s.",
            "",
        ]
        forms = d.get("forms") or {}
        if forms:
            lines += [
                f"Input forms, as the teacher's responses set their shares ({d.get('forms_rule', '')}):",
                "",
                *_md_table(
                    ["form", "share", "student KD there", "teacher's class coverage"],
                    [
                        [name, f"{f['share']:.3f}", f"{f['kd']:.4f}", f"{f['coverage']:.3f}"]
                        for name, f in forms.items()
                    ],
                ),
                "",
            ]
        for form, why in (d.get("forms_skipped") or {}).items():
            lines.append(f"- form {form} skipped: {why}")
        return lines + ([""] if d.get("forms_skipped") else [])

    def _quality_markdown(self) -> list[str]:
        q = self.quality
        if not q:
            return []
        source = (
            f"eval file `{q.get('path')}`"
            if q.get("source") == "eval_file"
            else f"GENERATED texts ({q.get('description')})"
        )
        lines = [
            "## Quality",
            "",
            f"{q.get('num_texts')} texts from {source}; reference: {q.get('reference')}; "
            f"labels: {'yes' if q.get('labelled') else 'no'}. KL is KL(teacher ‖ model) in nats; ECE uses "
            "15 confidence bins.",
            "",
        ]
        models = q.get("models", {})
        head = q.get("head", SINGLE_LABEL)
        if head == MULTI_LABEL:
            lines[-2] += (
                f" Multi-label: a label is predicted at probability >= {q.get('threshold')}; agreement = same decision "
                "per (text, label), exact = every label the same; KL per label (Bernoulli)."
            )
            lines += _head_table(_HEAD_COLUMNS[MULTI_LABEL], models)
            labels = q.get("labels", [])
            lines += ["", "Per label: agreement with the teacher (and F1 against the labels):", ""]
            lines += _md_table(
                ["label", *models],
                [
                    [
                        label,
                        *(
                            _fmt(m["per_label_agreement"][i])
                            + (f" ({_fmt(m['per_label_f1'][i])})" if m.get("per_label_f1") else "")
                            for m in models.values()
                        ),
                    ]
                    for i, label in enumerate(labels)
                ],
            )
            return lines + [""]
        if head == SCORE:
            lines[-2] += " Score model: agreement is the Pearson correlation with the teacher's score."
            lines += _head_table(_HEAD_COLUMNS[SCORE], models)
            return lines + [""]
        reference_ece = models.get(q.get("reference"), {}).get("ece")
        lines += _md_table(
            ["model", "accuracy", "agreement", "mean KL", "ECE", "ECE drift"],
            [
                [
                    name,
                    _fmt(m.get("accuracy")),
                    _fmt(m.get("agreement")),
                    _fmt(m.get("mean_kl"), 5),
                    _fmt(m.get("ece")),
                    _fmt(m["ece"] - reference_ece, sign=True)
                    if m.get("ece") is not None and reference_ece is not None
                    else "-",
                ]
                for name, m in models.items()
            ],
        )
        labels = q.get("labels", [])
        for name, m in models.items():
            if name == q.get("reference"):
                continue
            lines += [
                "",
                f"Confusion, teacher (rows) × {name} (columns):",
                "",
                *_md_table(
                    ["teacher \\ model", *labels],
                    [[label, *map(str, row)] for label, row in zip(labels, m["confusion_vs_teacher"])],
                ),
            ]
        return lines + [""]

    def write(self, out_dir: Path) -> dict[str, Path]:
        """Write report.json, report.md and latency.png into `out_dir` (atomically each)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md", "plot": out_dir / "latency.png"}
        write_json_atomic(paths["json"], self.to_dict())
        with atomic_file(paths["markdown"]) as tmp:
            tmp.write_text(self.to_markdown() + "\n", encoding="utf-8")
        plot_report(self, paths["plot"])
        return paths


def _fmt(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _head_table(columns: list[tuple[str, str, int]], models: dict[str, dict]) -> list[str]:
    return _md_table(
        ["model", *(title for title, _, _ in columns)],
        [[name, *(_fmt(m.get(key), digits) for _, key, digits in columns)] for name, m in models.items()],
    )


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def clean(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    out = ["| " + " | ".join(map(clean, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(map(clean, row)) + " |" for row in rows]
