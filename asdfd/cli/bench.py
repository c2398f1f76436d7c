"""`compress bench`: latency, throughput and quality of students against their teacher.

Flags, types, defaults and help come from `BenchConfig` (asdfd.cli.options); the rest is `--set`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from asdfd.cli._common import print_report_summary, show_progress, user_errors
from asdfd.cli.options import (
    ConfigFlag,
    apply_flag_values,
    config_options,
    parse_set_values,
    set_option,
    take_flag_values,
)
from asdfd.runtime.bench.bench_config import BenchConfig

BENCH_FLAGS = [
    ConfigFlag("eval_file"),
    ConfigFlag("text_column"),
    ConfigFlag("label_column"),
    ConfigFlag("batch_sizes"),
    ConfigFlag("seq_lens"),
    ConfigFlag("threads"),
    ConfigFlag("thread_sweep"),
    ConfigFlag("teacher_onnx"),
    ConfigFlag("teacher_pytorch", "pytorch-teacher"),
    ConfigFlag("max_repeats", "repeats"),
    ConfigFlag("warmup"),
    ConfigFlag("max_seconds_per_cell", "max-seconds"),
    ConfigFlag("max_eval_texts"),
    ConfigFlag("threshold"),
]
"""BenchConfig fields with a flag of their own (the rest: --set)."""


@click.command()
@click.option(
    "--teacher", type=click.Path(path_type=Path), required=True, help="Hugging Face folder of the teacher classifier."
)
@click.option(
    "--student",
    "students",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Exported student (.onnx file or export folder); repeat to compare several.",
)
@config_options(BenchConfig, BENCH_FLAGS, defaults={"": BenchConfig(teacher=Path("teacher"))})
@set_option("saturation_texts=512")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("bench-report"),
    show_default=True,
    help="Folder for report.json, report.md, latency.png.",
)
@click.pass_context
def bench(
    ctx: click.Context,
    teacher: Path,
    students: tuple[Path, ...],
    set_values: tuple[str, ...],
    out: Path,
    **options: Any,
) -> None:
    """Benchmark STUDENT(s) against TEACHER: latency p50/p90/p99, texts/s, accuracy and agreement.

    \b
    Example:
      compress bench --teacher artifacts/teacher-sst2 --student student.onnx \\
          --eval-file data/sst2/dev.tsv --threads 2 --out report/
    """
    given = {**take_flag_values(options, BENCH_FLAGS), **parse_set_values(set_values)}
    with user_errors(out=out):
        from asdfd.runtime.bench import run_bench

        base = BenchConfig(teacher=teacher, students=students, out=out, show_progress=show_progress(ctx))
        if "max_repeats" in given and given["max_repeats"][1] < base.min_repeats:  # fewer runs than the minimum
            given = {"min_repeats": given["max_repeats"], **given}
        config = apply_flag_values(base, given)
        report = run_bench(config)
    print_report_summary(report)
    click.echo(f"report written to {out}/report.json, report.md, latency.png")
