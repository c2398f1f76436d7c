"""Shared fixtures: tiny random-weight models built in-process (never a download), session-scoped."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

WORDS = ["good", "bad", "great", "awful", "movie", "film", "plot", "actor", "boring", "fun", "the", "a", "is",
         "was", "not", "very", "and", "but", "it", "story"]


def write_tiny_tokenizer(folder: Path) -> BertTokenizerFast:
    """A WordPiece tokenizer over ~100 tokens; save_pretrained also writes tokenizer.json."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + [f"w{i}" for i in range(99 - 5 - len(WORDS))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=64)
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_bert_config(**overrides) -> BertConfig:
    values = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                  max_position_embeddings=64, num_labels=2, id2label={0: "negative", 1: "positive"},
                  label2id={"negative": 0, "positive": 1})
    values.update(overrides)
    return BertConfig(**values)


def build_tiny_teacher(folder: Path, *, seed: int = 0, **config_overrides) -> Path:
    torch.manual_seed(seed)
    model = BertForSequenceClassification(tiny_bert_config(**config_overrides)).eval()
    model.save_pretrained(folder, safe_serialization=True)
    write_tiny_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT sequence classifier (hidden 32, 2 labels) with its tokenizer."""
    return build_tiny_teacher(tmp_path_factory.mktemp("tiny-teacher"))


@pytest.fixture(scope="session")
def tiny_teacher_4layer_dir(tmp_path_factory) -> Path:
    """A 4-layer variant, so a student can have 2 layers (half) or an explicit layer list."""
    return build_tiny_teacher(tmp_path_factory.mktemp("tiny-teacher-4"), num_hidden_layers=4)


@pytest.fixture(scope="session")
def tiny_labelled_tsv(tmp_path_factory) -> Path:
    """A small labelled TSV in the SST-2 format."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "tiny.tsv"
    lines = ["sentence\tlabel"]
    for _ in range(24):
        words = rng.sample(WORDS, 6)
        lines.append(f"{' '.join(words)}\t{rng.randint(0, 1)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _reset_global_state():
    """Each test starts from the same seed and default dtype (litgpt's autouse reset)."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(torch.float32)
