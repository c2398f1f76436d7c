"""`compress distill`: AS-DFD data-free distillation of a teacher folder into a student folder.

Only parses options into a `DistillConfig` and calls `asdfd.compressor.distill`; every option left out
keeps the value of the chosen `--budget` preset (or of `DistillConfig()`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from asdfd.cli._common import parse_student_ffn, parse_student_heads, parse_student_layers, user_errors

_POSITIVE = click.FloatRange(min=0, min_open=True)
_NON_NEGATIVE = click.FloatRange(min=0)


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@click.command()
@click.option("--teacher", type=click.Path(path_type=Path), required=True,
              help="Fine-tuned Hugging Face sequence-classifier folder (BERT, MiniLM, DistilBERT, RoBERTa).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Student folder to write.")
@click.option("--budget", type=click.Choice(["fast", "full"]), default=None,
              help="Preset: fast (CPU demo, ~7 min) or full (quality, GPU). Other options override it.")
@click.option("--method", type=click.Choice(["asdfd", "random-tokens"]), default=None,
              help="asdfd (AS-DFD: guessed pseudo embeddings) or random-tokens (KD on random token ids; measured best at "
                   "equal CPU budget, see docs/distill_results.md).  [default: random-tokens]")
@click.option("--student-layers", default=None,
              help="Student depth N (spread over the teacher, last layer kept) or teacher layers, e.g. 0,2,5.  "
                   "[default: half; a third with --budget fast]")
@click.option("--student-ffn", default=None,
              help="Feed-forward neurons kept per student layer, by weight norms: a count (1024), a share of the "
                   "teacher's (0.67) or all.  [default: 0.67 with --budget fast, else all]")
@click.option("--student-heads", default=None,
              help="Attention heads kept per student layer, by weight norms: a count (8), a share of the teacher's "
                   "(0.67) or all.  [default: all]")
@click.option("--steps", type=click.IntRange(min=0), default=None, help="Student steps (0 = no distillation).")
@click.option("--max-seconds", type=_POSITIVE, default=None, help="Training time budget in seconds.")
@click.option("--batch-size", type=click.IntRange(min=2), default=None)
@click.option("--lr", type=_POSITIVE, default=None, help="Student learning rate.")
@click.option("--temperature", type=_POSITIVE, default=None, help="KD temperature.")
@click.option("--hidden-weight", type=_NON_NEGATIVE, default=None, help="Hidden-state MSE weight (0 = off).")
@click.option("--random-token-fraction", type=click.FloatRange(0, 1), default=None,
              help="Share of random-token rows in each asdfd batch.")
@click.option("--vocab-filter", type=click.Choice(["all", "words"]), default=None,
              help="Sample random tokens from all tokens or only whole words and punctuation.")
@click.option("--vocab-prior", type=click.Choice(["uniform", "zipf"]), default=None,
              help="Draw random tokens by Zipf's law over their vocabulary rank (text-like word statistics; measured "
                   "better) or uniformly.  [default: zipf]")
@click.option("--min-length", type=click.IntRange(min=3), default=None)
@click.option("--max-length", type=click.IntRange(min=3), default=None)
@click.option("--stage2/--no-stage2", default=None, help="Run stage 2 (adversarial self-supervised distillation).")
@click.option("--self-supervised/--no-self-supervised", default=None, help="Use the self-supervised module.")
@click.option("--adversarial/--no-adversarial", default=None, help="Use the adversarial (max) step.")
@click.option("--guess-steps", type=click.IntRange(min=1), default=None, help="Stage-1 steps per batch.")
@click.option("--guess-lr", type=_POSITIVE, default=None)
@click.option("--guess-init", type=click.Choice(["tokens", "gaussian"]), default=None)
@click.option("--guess-targets", type=click.Choice(["teacher-prior", "balanced"]), default=None)
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=None)
@click.option("--stop-confidence", type=click.FloatRange(0, 1, min_open=True), default=None)
@click.option("--renormalize/--no-renormalize", default=None, help="Rescale guessed rows to token norms.")
@click.option("--nearest-token-weight", type=_NON_NEGATIVE, default=None)
@click.option("--pool-size", type=click.IntRange(min=1), default=None)
@click.option("--refresh-every", type=click.IntRange(min=0), default=None,
              help="Guess a new pool batch every N student steps (0 = fixed pool).")
@click.option("--snap-to-tokens/--no-snap-to-tokens", default=None, help="[experimental] Train on nearest tokens.")
@click.option("--ss-weight", type=_NON_NEGATIVE, default=None, help="λ_ss.")
@click.option("--adv-weight", type=_NON_NEGATIVE, default=None, help="λ_adv.")
@click.option("--disagreement-weight", type=_NON_NEGATIVE, default=None, help="β (DFAD disagreement).")
@click.option("--adv-every", type=click.IntRange(min=1), default=None, help="Student steps per max step.")
@click.option("--adv-steps", type=click.IntRange(min=1), default=None)
@click.option("--adv-lr", type=_POSITIVE, default=None)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None)
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default=None)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch.")
@click.option("--seed", type=int, default=None)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None)
@click.option("--eval-every", type=click.IntRange(min=1), default=None)
@click.option("--eval-file", type=click.Path(path_type=Path), default=None,
              help="Labelled CSV/TSV: accuracy reported for information only (never trains or selects).")
@click.option("--text-column", default=None, help="Text column of --eval-file.  [default: sentence]")
@click.option("--label-column", default=None, help="Label column of --eval-file.  [default: label]")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint of an interrupted run.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def distill(ctx: click.Context, teacher: Path, out: Path, budget: str | None, student_layers: str | None,
            eval_file: Path | None, resume: bool, force: bool, as_json: bool, **options: Any) -> None:
    """Distill --teacher into a smaller student without any training data.

    Default: KD on random token ids with hidden-state matching (measured best, docs/distill_results.md);
    --method asdfd runs AS-DFD (embedding guessing + adversarial self-supervised distillation).
    """
    with user_errors():
        from asdfd.compressor import DistillConfig, distill as run_distill

        o = options
        base = DistillConfig.for_budget(budget) if budget else DistillConfig()
        config = dataclasses.replace(
            base,
            student=dataclasses.replace(base.student, **parse_student_layers(student_layers),
                                        **parse_student_ffn(o["student_ffn"]), **parse_student_heads(o["student_heads"])),
            guess=dataclasses.replace(base.guess, **_given(
                steps=o["guess_steps"], lr=o["guess_lr"], init=o["guess_init"], targets=o["guess_targets"],
                label_smoothing=o["label_smoothing"], stop_confidence=o["stop_confidence"],
                renormalize=o["renormalize"], nearest_token_weight=o["nearest_token_weight"],
                pool_size=o["pool_size"], refresh_every=o["refresh_every"], snap_to_tokens=o["snap_to_tokens"])),
            self_supervised=dataclasses.replace(base.self_supervised, **_given(
                enabled=o["self_supervised"], weight=o["ss_weight"])),
            adversarial=dataclasses.replace(base.adversarial, **_given(
                enabled=o["adversarial"], weight=o["adv_weight"], disagreement_weight=o["disagreement_weight"],
                every=o["adv_every"], steps=o["adv_steps"], lr=o["adv_lr"])),
            show_progress=not (ctx.obj or {}).get("quiet", False),
            **_given(method=o["method"], use_stage2=o["stage2"], steps=o["steps"], max_seconds=o["max_seconds"],
                     batch_size=o["batch_size"], lr=o["lr"], temperature=o["temperature"],
                     hidden_weight=o["hidden_weight"], random_token_fraction=o["random_token_fraction"],
                     vocab_filter=o["vocab_filter"], vocab_prior=o["vocab_prior"], min_length=o["min_length"],
                     max_length=o["max_length"],
                     device=o["device"], precision=o["precision"], threads=o["threads"], seed=o["seed"],
                     checkpoint_every=o["checkpoint_every"], eval_every=o["eval_every"],
                     text_column=o["text_column"], label_column=o["label_column"]),
        )
        result = run_distill(teacher, out, config, eval_file=eval_file, resume=resume, force=force)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    metrics = result.metrics
    line = (f"student written to {result.student_dir} (layers {result.student_layers}; agreement with the teacher on "
            f"held-out random tokens {metrics.get('heldout_random_agreement', float('nan')):.3f}")
    if "eval_accuracy" in metrics:
        line += (f"; accuracy on {eval_file} {metrics['eval_accuracy']:.4f}, teacher "
                 f"{metrics['teacher_eval_accuracy']:.4f}, for information only")
    click.echo(line + ")")
