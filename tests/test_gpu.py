"""CUDA checks (marked gpu: `pytest -m gpu`; skipped on a machine without a CUDA GPU)."""

from __future__ import annotations

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (and a CUDA build of torch)"),
]


def test_auto_device_is_cuda_and_bf16_autocast_runs_the_teacher(tiny_teacher_dir):
    from transformers import AutoModelForSequenceClassification

    from asdfd.compressor.devices import autocast_context, resolve_device, resolve_precision

    device = resolve_device("auto")
    assert device.type == "cuda"
    precision = resolve_precision("auto", device)
    assert precision == "bf16"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher_dir).to(device).eval()
    ids = torch.tensor([[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]], device=device)
    with torch.no_grad(), autocast_context(device, precision):
        logits = model(input_ids=ids, attention_mask=(ids != 0).long()).logits
    assert logits.shape == (2, 2) and logits.device.type == "cuda"
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()
