"""Shared fixtures: tiny random-weight models built in-process (never a download), session-scoped.

Every tiny-model builder of the suite lives here, one per family and one size (2 layers, hidden 32, FFN 37,
2 heads, vocabulary 99, 64 positions, labels negative/positive); a test that needs another size passes config
overrides to the builder (e.g. `tiny_teacher_4layer_dir`, tests/test_many_classes.py). Sub-conftests add
fixtures built from these (exports, a trained rule teacher, a 1-layer student) but no builders of their own.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    ModernBertConfig,
    ModernBertForSequenceClassification,
    PreTrainedModel,
    RobertaConfig,
    RobertaForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

WORDS = [
    "good",
    "bad",
    "great",
    "awful",
    "movie",
    "film",
    "plot",
    "actor",
    "boring",
    "fun",
    "the",
    "a",
    "is",
    "was",
    "not",
    "very",
    "and",
    "but",
    "it",
    "story",
]


def write_tiny_tokenizer(folder: Path) -> BertTokenizerFast:
    """A WordPiece tokenizer over ~100 tokens; save_pretrained also writes tokenizer.json."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + [f"w{i}" for i in range(99 - 5 - len(WORDS))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=64)
    tokenizer.save_pretrained(folder)
    return tokenizer


def copy_tokenizer(source: Path, folder: Path) -> None:
    """Copy the tokenizer files (not the weights or config) of one model folder into another."""
    for path in source.iterdir():
        if path.name.startswith(("tokenizer", "vocab", "special_tokens")):
            shutil.copy(path, folder / path.name)


LABELS = dict(num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})


TINY = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    max_position_embeddings=64,
    **LABELS,
)
"""The one tiny size, in the BERT-style field names most families share."""


def tiny_bert_config(**overrides) -> BertConfig:
    return BertConfig(**{**TINY, **overrides})


def tiny_distilbert_config(**overrides) -> DistilBertConfig:
    values = dict(vocab_size=99, dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=64, **LABELS)
    values.update(overrides)
    return DistilBertConfig(**values)


def tiny_roberta_config(**overrides) -> RobertaConfig:
    # pad_token_id 0 matches the tiny WordPiece tokenizer; RoBERTa positions start after it (64 + 2).
    roberta = dict(max_position_embeddings=66, type_vocab_size=1, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    return RobertaConfig(**{**TINY, **roberta, **overrides})


def tiny_electra_config(**overrides) -> ElectraConfig:
    # ELECTRA's discriminator: embedding size may differ from hidden (projected); kept equal here, as in most.
    return ElectraConfig(**{**TINY, "embedding_size": 32, **overrides})


def _save_tiny(model_class: type[PreTrainedModel], config, folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model_class(config).eval().save_pretrained(folder, safe_serialization=True)
    write_tiny_tokenizer(folder)
    return folder


def build_tiny_teacher(folder: Path, *, seed: int = 0, **config_overrides) -> Path:
    """A tiny BERT sequence classifier (see `tiny_bert_config`) with its tokenizer, saved in `folder`."""
    return _save_tiny(BertForSequenceClassification, tiny_bert_config(**config_overrides), folder, seed)


def build_tiny_distilbert(folder: Path, *, seed: int = 0, **config_overrides) -> Path:
    """A tiny DistilBERT classifier (no token_type_ids) with the same WordPiece tokenizer."""
    return _save_tiny(DistilBertForSequenceClassification, tiny_distilbert_config(**config_overrides), folder, seed)


def build_tiny_roberta(folder: Path, *, seed: int = 0, **config_overrides) -> Path:
    """A tiny RoBERTa classifier (positions offset by padding_idx); a WordPiece tokenizer stands in for BPE."""
    return _save_tiny(RobertaForSequenceClassification, tiny_roberta_config(**config_overrides), folder, seed)


def build_tiny_xlm_roberta(folder: Path, *, seed: int = 0, **config_overrides) -> Path:
    """A tiny XLM-RoBERTa classifier (RoBERTa's layout and position offset); WordPiece stands in for SentencePiece."""
    values = tiny_roberta_config(**config_overrides).to_dict()
    config = XLMRobertaConfig(**{k: v for k, v in values.items() if k not in ("model_type", "transformers_version")})
    return _save_tiny(XLMRobertaForSequenceClassification, config, folder, seed)


def build_tiny_electra(folder: Path, *, seed: int = 0, **config_overrides) -> Path:
    """A tiny ELECTRA discriminator classifier (segment ids, like BERT)."""
    return _save_tiny(ElectraForSequenceClassification, tiny_electra_config(**config_overrides), folder, seed)


def build_tiny_deberta_v2(folder: Path, *, seed: int = 0, **config_overrides) -> Path:
    """A tiny DeBERTa-v3-style classifier: relative attention (c2p, p2c), no absolute positions, no segment ids."""
    deberta = dict(
        relative_attention=True,
        position_buckets=16,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        type_vocab_size=0,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
    )
    values = {**TINY, **deberta, **config_overrides}
    return _save_tiny(DebertaV2ForSequenceClassification, DebertaV2Config(**values), folder, seed)


def build_tiny_modernbert(folder: Path, *, seed: int = 0, **config_overrides) -> Path:
    """A tiny ModernBERT classifier: rotary positions, gated FFN, fused QKV, every third layer global attention and
    the others a sliding window (16 tokens, shorter than the test texts' padding so the window matters)."""
    modern = dict(
        global_attn_every_n_layers=3,
        local_attention=16,
        pad_token_id=0,
        cls_token_id=2,
        sep_token_id=3,
        bos_token_id=2,
        eos_token_id=3,
        reference_compile=False,
    )
    values = {**TINY, **modern, **config_overrides}
    return _save_tiny(ModernBertForSequenceClassification, ModernBertConfig(**values), folder, seed)


FAMILY_BUILDERS = {
    "bert": build_tiny_teacher,
    "distilbert": build_tiny_distilbert,
    "roberta": build_tiny_roberta,
    "xlm-roberta": build_tiny_xlm_roberta,
    "electra": build_tiny_electra,
    "deberta-v2": build_tiny_deberta_v2,
    "modernbert": build_tiny_modernbert,
}
"""One tiny builder per supported family (tests/test_architectures.py checks it covers asdfd.core.architectures)."""


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT sequence classifier (hidden 32, 2 labels) with its tokenizer."""
    return build_tiny_teacher(tmp_path_factory.mktemp("tiny-teacher"))


@pytest.fixture(scope="session")
def tiny_teacher_4layer_dir(tmp_path_factory) -> Path:
    """A 4-layer variant, so a student can have 2 layers (half) or an explicit layer list."""
    return build_tiny_teacher(tmp_path_factory.mktemp("tiny-teacher-4"), num_hidden_layers=4)


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory) -> Path:
    return build_tiny_distilbert(tmp_path_factory.mktemp("tiny-distilbert"))


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory) -> Path:
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))


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
