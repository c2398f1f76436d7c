"""Export fixtures: tiny DistilBERT/RoBERTa folders and exports shared by the tests (session-scoped)."""

from __future__ import annotations

from pathlib import Path

import shutil

import pytest
import torch
from transformers import (DistilBertConfig, DistilBertForSequenceClassification, RobertaConfig,
                          RobertaForSequenceClassification)

from asdfd.export import ExportConfig, ValidationConfig, export_onnx

LABELS = dict(id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
def copy_tokenizer(source: Path, folder: Path) -> None:
    for path in source.iterdir():
        if path.name.startswith(("tokenizer", "vocab", "special_tokens")):
            shutil.copy(path, folder / path.name)


FAST = ValidationConfig(num_samples=32, latency_runs=5)
"""Validation settings for tests: enough samples for agreement figures, few timed runs."""


def build_tiny_distilbert(folder: Path, tokenizer_dir: Path) -> Path:
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=2, hidden_dim=37,
                              max_position_embeddings=64, **LABELS)
    DistilBertForSequenceClassification(config).eval().save_pretrained(folder)
    copy_tokenizer(tokenizer_dir, folder)
    return folder


def build_tiny_roberta(folder: Path, tokenizer_dir: Path) -> Path:
    torch.manual_seed(0)
    # pad_token_id 0 matches the tiny WordPiece tokenizer; positions start after it (64 + 2).
    config = RobertaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=37, max_position_embeddings=66, type_vocab_size=1, pad_token_id=0,
                           bos_token_id=2, eos_token_id=3, **LABELS)
    RobertaForSequenceClassification(config).eval().save_pretrained(folder)
    copy_tokenizer(tokenizer_dir, folder)
    return folder


@pytest.fixture(scope="session")
def fast() -> ValidationConfig:
    return FAST


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory, tiny_teacher_dir) -> Path:
    return build_tiny_distilbert(tmp_path_factory.mktemp("tiny-distilbert"), tiny_teacher_dir)


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory, tiny_teacher_dir) -> Path:
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"), tiny_teacher_dir)


def _export(tmp_path_factory, model_dir: Path, name: str, **config):
    out = tmp_path_factory.mktemp("export") / name
    return export_onnx(model_dir, out, ExportConfig(show_progress=False, validation=FAST, **config))


@pytest.fixture(scope="session")
def fp32_export(tmp_path_factory, tiny_teacher_dir):
    return _export(tmp_path_factory, tiny_teacher_dir, "fp32.onnx", quantize="none")


@pytest.fixture(scope="session")
def int8_export(tmp_path_factory, tiny_teacher_dir):
    return _export(tmp_path_factory, tiny_teacher_dir, "int8.onnx", quantize="int8")


@pytest.fixture(scope="session")
def folder_export(tmp_path_factory, tiny_teacher_dir):
    return _export(tmp_path_factory, tiny_teacher_dir, "student/", quantize="int8")
