"""`compress export`: a Hugging Face sequence classifier folder -> validated ONNX artifact.

Flags, types, defaults and help come from `ExportConfig` (asdfd.cli.options); the rest is `--set`.
"""

from __future__ import annotations

import dataclasses
import json
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
from asdfd.export.export_config import ExportConfig

EXPORT_FLAGS = [
    ConfigFlag("quantize"),
    ConfigFlag("optimize"),
    ConfigFlag("opset"),
    ConfigFlag("max_length"),
    ConfigFlag("max_agreement_drop"),
    ConfigFlag("calibration.source", "calibration"),
    ConfigFlag("calibration.num_samples", "calibration-samples"),
    ConfigFlag("exporter"),
    ConfigFlag("validation.eval_file", "eval-file"),
    ConfigFlag("validation.text_column", "text-column"),
    ConfigFlag("strict"),
]
"""ExportConfig fields with a flag of their own (the rest: --set)."""


@click.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(),
    required=True,
    help="x.onnx: one self-contained file; a folder (or a trailing /): model.onnx + config + tokenizer.",
)
@config_options(ExportConfig, EXPORT_FLAGS, defaults={"": ExportConfig()})
@set_option("validation.min_agreement=0.95")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_context
def export(
    ctx: click.Context,
    model_dir: Path,
    out: str,
    set_values: tuple[str, ...],
    as_json: bool,
    force: bool,
    **options: Any,
) -> None:
    """Export MODEL_DIR (e.g. the student `compress distill` wrote) to a validated ONNX file.

    The .onnx carries labels, tokenizer, max length and provenance, so the runtime classifies raw text
    from that one file. Validation against PyTorch always runs; a quantized graph that fails it is replaced
    by the next int8 recipe, then fp32, with a warning (--strict: exit 1 and write nothing).
    """
    given = {**take_flag_values(options, EXPORT_FLAGS), **parse_set_values(set_values)}
    with user_errors(out=out):
        from asdfd.pipeline import export_artifact

        base = dataclasses.replace(ExportConfig(), show_progress=show_progress(ctx))
        config = apply_flag_values(base, given)
        # `out` stays a str: a trailing "/" selects the folder layout.
        result = export_artifact(model_dir, out, config, force=force)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        click.echo(result.summary())
