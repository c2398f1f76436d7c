"""What ModernBERT needs beyond the registry's paths (its round trip is in tests/test_architectures.py): a gated FFN
narrowed by neuron, and students whose layers behave by their index (local/global attention, layer 0 without an
attention norm) rebuilt so the model trained is the one that reloads."""

from __future__ import annotations

import torch

from asdfd.compressor.distill_config import StudentConfig
from asdfd.compressor.frozen_teacher import load_teacher
from asdfd.compressor.pruning import keep_ffn_neurons
from asdfd.compressor.student import build_student
from asdfd.core.architectures import ARCHITECTURES
from tests.conftest import build_tiny_modernbert

ARCH = ARCHITECTURES["modernbert"]


def test_gated_ffn_keeps_each_neurons_gate_row():
    torch.manual_seed(0)
    width, hidden = 6, 4
    ffn_in, ffn_out = torch.nn.Linear(hidden, 2 * width), torch.nn.Linear(width, hidden)

    def glu(first, second, x):
        value, gate = first(x).chunk(2, dim=-1)
        return second(torch.nn.functional.gelu(value) * gate)

    x = torch.randn(3, hidden)
    shuffled = torch.randperm(width)
    same_in, same_out = keep_ffn_neurons(ffn_in, ffn_out, shuffled, glu=True)
    torch.testing.assert_close(glu(same_in, same_out, x), glu(ffn_in, ffn_out, x))  # all neurons: same function
    keep = torch.tensor([4, 1])
    small_in, small_out = keep_ffn_neurons(ffn_in, ffn_out, keep, glu=True)
    assert small_in.out_features == 4 and small_out.in_features == 2
    with torch.no_grad():  # the reference: the full FFN with the dropped neurons' output columns zeroed
        masked = torch.nn.Linear(width, hidden)
        masked.weight.copy_(ffn_out.weight * torch.isin(torch.arange(width), keep).float())
        masked.bias.copy_(ffn_out.bias)
    torch.testing.assert_close(glu(small_in, small_out, x), glu(ffn_in, masked, x))


def test_a_cut_student_is_the_model_that_reloads(tmp_path):
    from transformers import AutoModelForSequenceClassification

    teacher = load_teacher(build_tiny_modernbert(tmp_path / "t", num_hidden_layers=4))
    # Teacher layer 3 is global (3 % 3 == 0) and layer 1 local; as student layers 0 and 1 they become global and
    # local by their new index, and the copied layer 1 loses its attention norm as the new layer 0.
    student, layers = build_student(teacher, StudentConfig(layers=(1, 3), ffn_size=20))
    assert layers == [1, 3]
    kept = ARCH.layers(student)
    assert [layer.attn.local_attention for layer in kept] == [(-1, -1), (8, 8)]
    assert isinstance(kept[0].attn_norm, torch.nn.Identity) and ARCH.ffn(kept[0])[0].out_features == 40
    student.eval()
    student.save_pretrained(tmp_path / "s", safe_serialization=True)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "s", trust_remote_code=False).eval()
    ids = torch.randint(5, 99, (2, 40))  # longer than the 16-token window: local and global layers differ
    mask = torch.ones_like(ids)
    mask[1, 30:] = 0
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded(input_ids=ids, attention_mask=mask).logits, student(input_ids=ids, attention_mask=mask).logits
        )
