"""latency.png: p50 latency vs batch size per model, and accuracy (or agreement) vs size on disk.

matplotlib is imported inside `plot_report` with the Agg backend (no display needed), so the runtime
itself never needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from asdfd.core._io import atomic_file

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.runtime.bench.report import BenchReport

__all__ = ["plot_report"]


def plot_report(report: BenchReport, path: Path) -> Path:
    """Draw the two panels into `path` (PNG), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cell = report.headline_cell()
    seq_len = cell[1] if cell else None
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))

    colors = {m["name"]: f"C{index}" for index, m in enumerate(report.models)}  # same colour in both panels
    batch_sizes: set[int] = set()
    for model in report.models:
        rows = sorted(
            (r for r in report.latency if r["model"] == model["name"] and r["seq_len"] == seq_len),
            key=lambda r: r["batch_size"],
        )
        if rows:
            batch_sizes.update(r["batch_size"] for r in rows)
            left.plot(
                [r["batch_size"] for r in rows],
                [r["latency"]["p50"] for r in rows],
                marker="o",
                color=colors[model["name"]],
                linestyle="--" if model["role"] != "student" else "-",
                label=model["name"],
            )
    left.set_xscale("log", base=2)
    left.set_xticks(sorted(batch_sizes), [str(b) for b in sorted(batch_sizes)])
    left.minorticks_off()
    left.set_yscale("log")
    left.set_xlabel("batch size")
    left.set_ylabel(f"p50 latency (ms), {seq_len} tokens")
    left.set_title("Latency vs batch size")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)

    quality = report.quality.get("models", {})
    metric = "accuracy" if report.quality.get("labelled") else "agreement"
    for model in report.models:
        value = quality.get(model["name"], {}).get(metric)
        if value is not None:
            right.scatter(
                model["size_mb"],
                value,
                s=50,
                color=colors[model["name"]],
                label=model["name"],
                marker="o" if model["role"] == "student" else "s",
            )
    right.set_xlabel("size on disk (MB)")
    right.set_ylabel(metric if metric == "accuracy" else "agreement with teacher")
    source = "" if report.quality.get("source") == "eval_file" else " (generated texts)"
    right.set_title(f"{metric.capitalize()} vs size{source}")
    right.grid(True, alpha=0.3)
    right.set_xlim(left=0)
    right.legend(fontsize=8)

    figure.tight_layout()
    path = Path(path)
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return path
