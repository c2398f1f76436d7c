"""Fixtures for the distiller tests: a tiny teacher that actually learned a rule, and other BERT-family plugs.

The shared random-weight teachers (tests/conftest.py) predict one class for every input, so agreement
and confidence cannot move; `rule_teacher_dir` is a 4-layer tiny BERT trained in-process for a few
seconds on a token-counting rule (label 1 when ids 5-24 outnumber ids 25-44), so it has input-dependent,
confident predictions. Nothing is downloaded. The DistilBERT/RoBERTa plugs are tests/conftest.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from tests.conftest import copy_tokenizer


@pytest.fixture(autouse=True)
def _one_thread():
    """The test machine has 2 cores shared with other jobs: one thread avoids oversubscription (15x faster)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rule_batch(generator: torch.Generator, count: int = 32, length: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(5, 99, (count, length), generator=generator)
    ids[:, 0], ids[:, -1] = 2, 3
    positive = ((ids >= 5) & (ids < 25)).sum(1)
    negative = ((ids >= 25) & (ids < 45)).sum(1)
    return ids, (positive > negative).long()


@pytest.fixture(scope="session")
def rule_teacher_dir(tmp_path_factory, tiny_teacher_4layer_dir) -> Path:
    """A 4-layer tiny BERT classifier trained on the token-counting rule (about 95% accurate)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("rule-teacher")
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher_4layer_dir)
    model.train()
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        ids, labels = rule_batch(generator)
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval().save_pretrained(folder, safe_serialization=True)
    copy_tokenizer(tiny_teacher_4layer_dir, folder)
    torch.set_num_threads(threads)
    return folder
