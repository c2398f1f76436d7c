"""`compress teacher`: the teacher recipe (fine-tune a pretrained encoder on a labelled file).

Flags, types, defaults and help come from `TeacherRecipeConfig` (asdfd.cli.options).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from asdfd.cli._common import show_progress, user_errors
from asdfd.cli.options import (
    ConfigFlag,
    apply_flag_values,
    config_options,
    parse_set_values,
    set_option,
    take_flag_values,
)
from asdfd.pipeline.teacher_recipe_config import TeacherRecipeConfig

TEACHER_FLAGS = [
    ConfigFlag(name)
    for name in (
        "base_model",
        "steps",
        "batch_size",
        "lr",
        "max_length",
        "text_column",
        "label_column",
        "label_names",
        "task",
        "seed",
        "threads",
    )
]


@click.command()
@click.option(
    "--train", "train_file", type=click.Path(path_type=Path), required=True, help="Labelled CSV/TSV with a header row."
)
@click.option(
    "--eval",
    "eval_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Labelled CSV/TSV to report accuracy (F1 for multi-label, Pearson for scores) on after training.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output Hugging Face folder.")
@config_options(TeacherRecipeConfig, TEACHER_FLAGS, defaults={"": TeacherRecipeConfig()})
@set_option("warmup_fraction=0.06")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_context
def teacher(
    ctx: click.Context,
    train_file: Path,
    eval_file: Path | None,
    out: Path,
    set_values: tuple[str, ...],
    force: bool,
    **options: Any,
) -> None:
    """Fine-tune a teacher classifier on a labelled CSV/TSV (the demo's recipe): single-label, multi-label (labels
    like "joy,love") or a score (numeric labels), sentence pairs with --text-column a,b."""
    given = {**take_flag_values(options, TEACHER_FLAGS), **parse_set_values(set_values)}
    with user_errors(out=out):
        from asdfd.pipeline.teacher_recipe import train_teacher

        base = dataclasses.replace(TeacherRecipeConfig(), show_progress=show_progress(ctx))
        config = apply_flag_values(base, given)
        summary = train_teacher(train_file, out, config, eval_file=eval_file, force=force)
    figures = ", ".join(
        f"{key[5:].replace('_', ' ')} {value:.4f}"
        for key, value in summary.items()
        if key.startswith("eval_") and key != "eval_file"
    )
    click.echo(f"teacher written to {out} ({summary['task']}" + (f"; on {eval_file}: {figures})" if figures else ")"))
