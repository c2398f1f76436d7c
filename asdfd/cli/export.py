"""`compress export`: a Hugging Face sequence classifier folder -> validated ONNX artifact."""

from __future__ import annotations

import json
from pathlib import Path

import click

from asdfd.cli._common import user_errors


@click.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(), required=True,
              help="x.onnx: one self-contained file; a folder (or a trailing /): model.onnx + config + tokenizer.")
@click.option("--quantize", type=click.Choice(["none", "int8", "int8-static", "fp16", "auto"]), default="int8",
              show_default=True, help="auto: fastest variant within --max-agreement-drop of fp32.")
@click.option("--optimize/--no-optimize", default=True, show_default=True,
              help="Fuse attention / LayerNorm / GELU with onnxruntime's transformer optimizer.")
@click.option("--opset", type=click.IntRange(14, 21), default=18, show_default=True)
@click.option("--max-length", type=click.IntRange(min=2), default=128, show_default=True,
              help="Tokens per text at run time (capped at the model's positions).")
@click.option("--max-agreement-drop", type=click.FloatRange(0, 100), default=0.5, show_default=True,
              help="--quantize auto: agreement with fp32 (points) a faster variant may lose.")
@click.option("--calibration", "calibration_source", type=click.Choice(["teacher-guided", "random", "guessed"]),
              default="teacher-guided", show_default=True, help="int8-static: data-free calibration source.")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--exporter", type=click.Choice(["optimum", "torch"]), default="optimum", show_default=True)
@click.option("--eval-file", type=click.Path(path_type=Path), default=None,
              help="CSV/TSV of real texts (labels unused): int8/fp16 is judged by agreement on them instead of on "
                   "confident generated inputs.")
@click.option("--text-column", default="sentence", show_default=True, help="Text column of --eval-file.")
@click.option("--strict", is_flag=True,
              help="Fail when the quantized graph fails validation, instead of trying the next recipe, then fp32.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_context
def export(ctx: click.Context, model_dir: Path, out: str, quantize: str, optimize: bool, opset: int, max_length: int,
           max_agreement_drop: float, calibration_source: str, calibration_samples: int, exporter: str,
           eval_file: Path | None, text_column: str, strict: bool, as_json: bool, force: bool) -> None:
    """Export MODEL_DIR (e.g. the student `compress distill` wrote) to a validated ONNX file.

    The .onnx carries labels, tokenizer, max length and provenance, so the runtime classifies raw text
    from that one file. Validation against PyTorch always runs; a failure writes nothing and exits 1.
    """
    with user_errors():
        from asdfd.export import CalibrationConfig, ExportConfig, ValidationConfig
        from asdfd.pipeline import export_artifact

        config = ExportConfig(
            quantize=quantize, optimize=optimize, opset=opset, max_length=max_length,  # type: ignore[arg-type]
            max_agreement_drop=max_agreement_drop, exporter=exporter,  # type: ignore[arg-type]
            calibration=CalibrationConfig(source=calibration_source, num_samples=calibration_samples),  # type: ignore[arg-type]
            validation=ValidationConfig(eval_file=str(eval_file) if eval_file else None, text_column=text_column),
            strict=strict,
            show_progress=not (ctx.obj or {}).get("quiet", False),
        )
        # `out` stays a str: a trailing "/" selects the folder layout.
        result = export_artifact(model_dir, out, config, force=force)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        click.echo(result.summary())

