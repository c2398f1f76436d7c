"""`compress run`: distill -> export -> bench in one resumable command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from asdfd.cli._common import parse_student_ffn, parse_student_heads, parse_student_layers, print_report_summary, user_errors

QUANTIZE_CHOICES = ["none", "int8", "int8-static", "fp16", "auto"]


@click.command()
@click.option("--teacher", type=click.Path(path_type=Path), default=None,
              help="Fine-tuned Hugging Face sequence-classifier folder (BERT, MiniLM, DistilBERT, RoBERTa). Required "
                   "unless the config file names it.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Student artifact to write (a .onnx path); other outputs go to <out stem>.run/ beside it. Required "
                   "unless the config file names it.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="YAML/JSON run config (see examples/run_config.yaml); flags override it.")
@click.option("--budget", type=click.Choice(["fast", "full"]), default=None,
              help="fast: CPU demo (minutes); full: quality setting for a GPU.  [default: fast]")
@click.option("--quantize", type=click.Choice(QUANTIZE_CHOICES), default=None, help="Student precision.  [default: int8]")
@click.option("--eval-file", type=click.Path(path_type=Path), default=None,
              help="Labelled CSV/TSV for reporting accuracy (never used to train or select).")
@click.option("--text-column", default=None, help="Text column of --eval-file.  [default: sentence]")
@click.option("--label-column", default=None, help="Label column of --eval-file.  [default: label]")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="Distillation device.")
@click.option("--student-layers", default=None,
              help="Student depth N, or teacher layers to keep, e.g. 0,2,5.  [default: a third with --budget fast "
                   "(the default budget), else half]")
@click.option("--student-ffn", default=None,
              help="Feed-forward neurons kept per student layer, by weight norms: a count (1024), a share of the "
                   "teacher's (0.67) or all.  [default: 0.67 with --budget fast, else all]")
@click.option("--student-heads", default=None,
              help="Attention heads kept per student layer, by weight norms: a count (8), a share of the teacher's "
                   "(0.67) or all.  [default: all]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Student peak learning rate.  [default: 3e-4 with --budget fast, else 1e-4]")
@click.option("--seed", type=int, default=None)
@click.option("--force", is_flag=True, help="Start over: redo every stage and overwrite earlier outputs.")
@click.option("--json", "as_json", is_flag=True, help="Print progress events and the result as JSON lines.")
@click.pass_context
def run(ctx: click.Context, teacher: Path | None, out: Path | None, config_file: Path | None, budget: str | None,
        quantize: str | None, eval_file: Path | None, text_column: str | None, label_column: str | None,
        device: str | None, student_layers: str | None, student_ffn: str | None, student_heads: str | None,
        lr: float | None, seed: int | None,
        force: bool, as_json: bool) -> None:
    """Distill TEACHER without data, export it to ONNX (validated), and report latency and quality.

    Re-running the same command resumes an interrupted run; finished stages are skipped unless --force.
    The resolved options are saved as <out stem>.run/run_config.json: `compress run --config` on that file
    repeats the run exactly.
    """
    quiet = (ctx.obj or {}).get("quiet", False) or as_json
    with user_errors():
        from asdfd.config_file import load_config_file
        from asdfd.pipeline import plan_run, run_pipeline

        file_options = load_config_file(config_file) if config_file else {}
        flags: dict[str, Any] = {"eval_file": str(eval_file) if eval_file else None, "text_column": text_column,
                                 "label_column": label_column, "device": device, "quantize": quantize, "seed": seed}
        if budget:
            flags["budget"] = budget
        student = {**parse_student_layers(student_layers), **parse_student_ffn(student_ffn),
                   **parse_student_heads(student_heads)}
        distill_flags = {**({"student": student} if student else {}), **({"lr": lr} if lr else {})}
        if distill_flags:
            flags["distill"] = distill_flags
        plan = plan_run(teacher, out, file_options=file_options, flag_options=flags, show_progress=not quiet)
        echo_event = (lambda event: click.echo(json.dumps(event, default=str))) if as_json else None
        result = run_pipeline(plan, force=force, on_event=echo_event)
    if as_json:
        click.echo(json.dumps({"event": "result", "paths": {k: str(v) for k, v in result.paths.items()},
                               "stages": result.stages, "report": result.report.to_dict()}, default=str))
        return
    if not quiet:
        print_report_summary(result.report)
    for name, path in result.paths.items():
        click.echo(f"{name:>12}: {path}")

