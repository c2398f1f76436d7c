"""Narrow students: FFN neuron ranking, the restricted FFN's arithmetic, and narrowing every BERT-family plug."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification

from asdfd.compressor import StudentConfig, build_student, load_teacher
from asdfd.compressor.pruning import ffn_neuron_importance, keep_ffn_neurons, narrow_ffn
from asdfd.errors import ConfigError


def _ffn(ffn_in: nn.Linear, ffn_out: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return ffn_out(torch.nn.functional.gelu(ffn_in(x)))


def test_importance_is_input_norm_times_output_norm():
    ffn_in, ffn_out = nn.Linear(2, 3), nn.Linear(3, 2)
    with torch.no_grad():
        ffn_in.weight.copy_(torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]))  # row norms 5, 1, 2
        ffn_out.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]]))  # column norms 1, 0, 3
    torch.testing.assert_close(ffn_neuron_importance(ffn_in, ffn_out), torch.tensor([5.0, 0.0, 6.0]))


def test_kept_neurons_compute_the_restricted_ffn():
    torch.manual_seed(0)
    ffn_in, ffn_out = nn.Linear(8, 20), nn.Linear(20, 8)
    x = torch.randn(4, 8)
    keep = torch.tensor([17, 2, 9, 11])  # any order
    new_in, new_out = keep_ffn_neurons(ffn_in, ffn_out, keep)
    assert (new_in.out_features, new_out.in_features) == (4, 4)
    mask = torch.zeros(20)
    mask[keep] = 1.0
    expected = torch.nn.functional.gelu(ffn_in(x)) * mask @ ffn_out.weight.T + ffn_out.bias
    torch.testing.assert_close(_ffn(new_in, new_out, x), expected)
    everything = keep_ffn_neurons(ffn_in, ffn_out, torch.arange(20).flip(0))
    torch.testing.assert_close(_ffn(*everything, x), _ffn(ffn_in, ffn_out, x))


@pytest.mark.parametrize("fixture", ["tiny_teacher_4layer_dir", "tiny_distilbert_dir", "tiny_roberta_dir"])
def test_narrowing_drops_the_dead_neurons_and_nothing_else_changes(fixture, request, tmp_path):
    teacher = load_teacher(request.getfixturevalue(fixture))
    width = int(getattr(teacher.model.config, teacher.plug.ffn_size_key))
    dead = [3, 20, 30]
    with torch.no_grad():
        for layer in teacher.plug.layers(teacher.model):
            teacher.plug.ffn(layer)[1].weight[:, dead] = 0.0  # these neurons cannot reach the output
    full, _ = build_student(teacher, StudentConfig(num_layers=1))
    narrow, _ = build_student(teacher, StudentConfig(num_layers=1, ffn_size=width - len(dead)))
    for layer in teacher.plug.layers(narrow):
        ffn_in, ffn_out = teacher.plug.ffn(layer)
        assert ffn_in.out_features == ffn_out.in_features == width - len(dead)
        assert ffn_in.weight.requires_grad
    ids = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 0, 0]])
    mask = (ids != 0).long()
    full.eval(), narrow.eval()
    torch.testing.assert_close(narrow(input_ids=ids, attention_mask=mask).logits,
                               full(input_ids=ids, attention_mask=mask).logits)
    # The width is recorded in the config, so the saved student reloads as a normal Hugging Face model.
    narrow.save_pretrained(tmp_path / "narrow")
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "narrow").eval()
    assert getattr(reloaded.config, teacher.plug.ffn_size_key) == width - len(dead)
    torch.testing.assert_close(reloaded(input_ids=ids, attention_mask=mask).logits,
                               narrow(input_ids=ids, attention_mask=mask).logits)
    assert getattr(teacher.model.config, teacher.plug.ffn_size_key) == width  # the teacher keeps its width


def test_narrowing_rejects_sizes_that_are_not_narrower(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir)  # FFN width 37
    for size in (37, 40):
        with pytest.raises(ConfigError, match="between 1 and 36"):
            narrow_ffn(teacher.model, teacher.plug, size)
    with pytest.raises(ConfigError, match="ffn_size must be >= 1"):
        StudentConfig(ffn_size=0)
