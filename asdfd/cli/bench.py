"""`compress bench`: latency, throughput and quality of students against their teacher."""

from __future__ import annotations

from pathlib import Path

import click

from asdfd.cli._common import print_report_summary, parse_int_list, user_errors


@click.command()
@click.option("--teacher", type=click.Path(path_type=Path), required=True,
              help="Hugging Face folder of the teacher classifier.")
@click.option("--student", "students", type=click.Path(path_type=Path), multiple=True,
              help="Exported student (.onnx file or export folder); repeat to compare several.")
@click.option("--eval-file", type=click.Path(path_type=Path), default=None,
              help="CSV/TSV of texts (labels optional). Without it, agreement is measured on generated texts.")
@click.option("--text-column", default="sentence", show_default=True)
@click.option("--label-column", default="label", show_default=True, help="Ignored when the file lacks it.")
@click.option("--batch-sizes", default="1,8,32", show_default=True, help="Comma-separated batch sizes.")
@click.option("--seq-lens", default="16,64,128", show_default=True, help="Comma-separated token lengths.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Intra-op threads per model [default: physical cores].")
@click.option("--thread-sweep", default=None,
              help="Also measure at these thread counts, e.g. 1,2,4 (batch-1 latency, saturated throughput).")
@click.option("--teacher-onnx", default="none,int8", show_default=True,
              help="Teacher ONNX baselines to build via the exporter ('' for none).")
@click.option("--no-pytorch-teacher", is_flag=True, help="Skip the PyTorch fp32 teacher.")
@click.option("--repeats", type=click.IntRange(min=1), default=100, show_default=True,
              help="Timed runs per model and shape (fewer if --max-seconds runs out).")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--max-seconds", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Time budget per batch × length cell (at least 10 runs each).")
@click.option("--max-eval-texts", type=click.IntRange(min=1), default=None, help="Use only the first N eval texts.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench-report"), show_default=True,
              help="Folder for report.json, report.md, latency.png.")
@click.pass_context
def bench(ctx: click.Context, teacher: Path, students: tuple[Path, ...], eval_file: Path | None, text_column: str,
          label_column: str, batch_sizes: str, seq_lens: str, threads: int | None, thread_sweep: str | None,
          teacher_onnx: str, no_pytorch_teacher: bool, repeats: int, warmup: int, max_seconds: float,
          max_eval_texts: int | None, out: Path) -> None:
    """Benchmark STUDENT(s) against TEACHER: latency p50/p90/p99, texts/s, accuracy and agreement.

    \b
    Example:
      compress bench --teacher artifacts/teacher-sst2 --student student.onnx \\
          --eval-file data/sst2/dev.tsv --threads 2 --out report/
    """
    batch_size_list = parse_int_list(batch_sizes, "--batch-sizes")
    seq_len_list = parse_int_list(seq_lens, "--seq-lens")
    sweep = parse_int_list(thread_sweep, "--thread-sweep") or []
    quantizations = tuple(q.strip() for q in teacher_onnx.split(",") if q.strip())
    with user_errors():
        from asdfd.runtime.bench import BenchConfig, run_bench

        config = BenchConfig(
            teacher=teacher, students=students, eval_file=eval_file, text_column=text_column,
            label_column=label_column, batch_sizes=tuple(batch_size_list), seq_lens=tuple(seq_len_list),
            threads=threads, thread_sweep=tuple(sweep), teacher_pytorch=not no_pytorch_teacher,
            teacher_onnx=quantizations, warmup=warmup, min_repeats=min(10, repeats), max_repeats=repeats,
            max_seconds_per_cell=max_seconds, max_eval_texts=max_eval_texts, out=out,
            show_progress=not (ctx.obj or {}).get("quiet", False),
        )
        report = run_bench(config)
    print_report_summary(report)
    click.echo(f"report written to {out}/report.json, report.md, latency.png")
