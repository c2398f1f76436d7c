"""`compress distill`: data-free distillation of a teacher folder into a student folder.

Only parses options into a `DistillConfig` and calls `asdfd.compressor.distill`; the flags, their types,
defaults and help come from `DistillConfig` and, for AS-DFD's flags (valid with `--method asdfd` only), from
`AsdfdConfig` (asdfd.cli.options); every option left out keeps the value of the chosen `--budget` preset
(or of `DistillConfig()`), for the chosen method.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from asdfd.cli._common import (
    MINUTES_HELP,
    minutes_flag_values,
    show_progress,
    student_flag_help,
    student_flag_values,
    user_errors,
)
from asdfd.cli.options import (
    ConfigFlag,
    apply_flag_values,
    config_options,
    parse_set_values,
    set_option,
    take_flag_values,
)
from asdfd.compressor.asdfd_method.synthesizer import AsdfdConfig
from asdfd.compressor.distill_config import BUDGETS, DistillConfig
from asdfd.core.architectures import FAMILIES
from asdfd.core.heads import PRIMARY_METRIC

DISTILL_FLAGS = [
    ConfigFlag("method"),
    ConfigFlag("input_kind"),
    ConfigFlag("steps"),
    ConfigFlag("max_seconds"),
    ConfigFlag("batch_size"),
    ConfigFlag("lr"),
    ConfigFlag("temperature"),
    ConfigFlag("hidden_weight"),
    ConfigFlag("vocab_filter"),
    ConfigFlag("vocab_prior"),
    ConfigFlag("min_length"),
    ConfigFlag("max_length"),
    ConfigFlag("device"),
    ConfigFlag("precision"),
    ConfigFlag("threads"),
    ConfigFlag("seed"),
    ConfigFlag("checkpoint_every"),
    ConfigFlag("eval_every"),
    ConfigFlag("text_column"),
    ConfigFlag("label_column"),
]
"""DistillConfig fields with a flag of their own (the rest: --set); names kept from earlier releases."""

ASDFD_FLAGS = [
    ConfigFlag("use_stage2", "stage2"),
    ConfigFlag("random_token_fraction"),
    ConfigFlag("self_supervised.enabled", "self-supervised"),
    ConfigFlag("adversarial.enabled", "adversarial"),
    ConfigFlag("guess.steps"),
    ConfigFlag("guess.lr"),
    ConfigFlag("guess.init"),
    ConfigFlag("guess.targets"),
    ConfigFlag("guess.label_smoothing", "label-smoothing"),
    ConfigFlag("guess.stop_confidence", "stop-confidence"),
    ConfigFlag("guess.renormalize", "renormalize"),
    ConfigFlag("guess.nearest_token_weight", "nearest-token-weight"),
    ConfigFlag("guess.pool_size", "pool-size"),
    ConfigFlag("guess.refresh_every", "refresh-every"),
    ConfigFlag("guess.snap_to_tokens", "snap-to-tokens"),
    ConfigFlag("self_supervised.weight", "ss-weight"),
    ConfigFlag("adversarial.weight", "adv-weight"),
    ConfigFlag("adversarial.disagreement_weight", "disagreement-weight"),
    ConfigFlag("adversarial.every", "adv-every"),
    ConfigFlag("adversarial.steps", "adv-steps"),
    ConfigFlag("adversarial.lr", "adv-lr"),
]
"""AS-DFD's options (fields of `AsdfdConfig`, i.e. synthesis.*) with a flag of their own: --method asdfd only."""

BUDGET_DEFAULTS = {"": DistillConfig(), **{f"--budget {name}": DistillConfig.for_budget(name) for name in BUDGETS}}
ASDFD_DEFAULTS = {"": AsdfdConfig(), **{f"--budget {name}": AsdfdConfig.for_budget(name) for name in BUDGETS}}

STUDENT_HELP = student_flag_help(BUDGET_DEFAULTS)


@click.command()
@click.option(
    "--teacher",
    type=click.Path(path_type=Path),
    required=True,
    help="Fine-tuned Hugging Face sequence classifier: a folder, or a Hub id (org/name, from the local cache; "
    f"downloaded only when the network allows). Families: {FAMILIES}.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Student folder to write.")
@click.option(
    "--budget",
    type=click.Choice(BUDGETS),
    default=None,
    help="Preset: fast (the CPU demo, minutes) or full (quality, meant for a GPU); see "
    "DistillConfig.for_budget. Other options override it.",
)
@click.option("--student-layers", default=None, help=STUDENT_HELP["layers"])
@click.option("--student-ffn", default=None, help=STUDENT_HELP["ffn"])
@click.option("--student-heads", default=None, help=STUDENT_HELP["heads"])
@config_options(DistillConfig, DISTILL_FLAGS, defaults=BUDGET_DEFAULTS)
@config_options(AsdfdConfig, ASDFD_FLAGS, defaults=ASDFD_DEFAULTS, note="[--method asdfd]")
@click.option("--minutes", type=float, default=None, help=MINUTES_HELP)
@set_option("synthesis.word_pieces=0.2 (synthesis.*: the --method's own options)")
@click.option(
    "--eval-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Labelled CSV/TSV: accuracy reported for information only (never trains or selects).",
)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint of an interrupted run.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def distill(
    ctx: click.Context,
    teacher: Path,
    out: Path,
    budget: str | None,
    student_layers: str | None,
    student_ffn: str | None,
    student_heads: str | None,
    minutes: float | None,
    set_values: tuple[str, ...],
    eval_file: Path | None,
    resume: bool,
    force: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Distill --teacher into a smaller student without any training data.

    Default: KD with hidden-state matching on synthetic inputs of several forms (random tokens, words, short texts,
    questions; for pair teachers edits, hypotheses, reorderings, unrelated pairs) in shares the teacher's responses
    set (--method forms; the others and their results: docs/distill_results.md); --method asdfd runs AS-DFD
    (embedding guessing + adversarial self-supervised distillation), whose flags are marked [--method asdfd]. bf16
    autocast where the CPU computes bf16 natively.
    """
    given = {
        **student_flag_values(student_layers, student_ffn, student_heads),
        **minutes_flag_values(minutes),
        **take_flag_values(options, DISTILL_FLAGS),
        **parse_set_values(set_values),
    }
    method = str(given.get("method", ("", DistillConfig.method))[1])
    asdfd_given = take_flag_values(options, ASDFD_FLAGS)
    if asdfd_given and method != "asdfd":
        flag = next(iter(asdfd_given.values()))[0]
        raise click.UsageError(f"{flag} is an option of --method asdfd: add --method asdfd (this run's is {method})")
    given.update({f"synthesis.{path}": value for path, value in asdfd_given.items()})
    with user_errors(resume_flag="--resume", out=out):
        from asdfd.compressor import distill as run_distill

        # The method first: its options start from its own defaults (or its budget preset).
        base = DistillConfig.for_budget(budget, method=method) if budget else DistillConfig(method=method)
        base = dataclasses.replace(base, show_progress=show_progress(ctx))
        config = apply_flag_values(base, given)
        result = run_distill(teacher, out, config, eval_file=eval_file, resume=resume, force=force)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    metrics = result.metrics
    line = (
        f"student written to {result.student_dir} (layers {result.student_layers}; agreement with the teacher on "
        f"held-out random tokens {metrics.get('heldout_random_agreement', float('nan')):.3f}"
    )
    name = next((n for n in PRIMARY_METRIC.values() if f"eval_{n}" in metrics), None)
    if name is not None:
        line += (
            f"; {name.replace('_', ' ')} on {eval_file} {metrics[f'eval_{name}']:.4f}, teacher "
            f"{metrics[f'teacher_eval_{name}']:.4f}, for information only"
        )
    click.echo(line + ")")
