"""Narrow students: FFN neuron and attention head ranking, the pruned blocks' arithmetic, every BERT-family arch."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification

from asdfd.compressor import StudentConfig, build_student, load_teacher
from asdfd.compressor.pruning import (
    attention_head_importance,
    ffn_neuron_importance,
    keep_ffn_neurons,
    narrow_ffn,
    prune_attention_heads,
)
from asdfd.core.errors import ConfigError


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
    width = int(getattr(teacher.model.config, teacher.arch.ffn_size_key))
    dead = [3, 20, 30]
    with torch.no_grad():
        for layer in teacher.arch.layers(teacher.model):
            teacher.arch.ffn(layer)[1].weight[:, dead] = 0.0  # these neurons cannot reach the output
    full, _ = build_student(teacher, StudentConfig(num_layers=1))
    narrow, _ = build_student(teacher, StudentConfig(num_layers=1, ffn_size=width - len(dead)))
    for layer in teacher.arch.layers(narrow):
        ffn_in, ffn_out = teacher.arch.ffn(layer)
        assert ffn_in.out_features == ffn_out.in_features == width - len(dead)
        assert ffn_in.weight.requires_grad
    ids = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 0, 0]])
    mask = (ids != 0).long()
    full.eval(), narrow.eval()
    torch.testing.assert_close(
        narrow(input_ids=ids, attention_mask=mask).logits, full(input_ids=ids, attention_mask=mask).logits
    )
    # The width is recorded in the config, so the saved student reloads as a normal Hugging Face model.
    narrow.save_pretrained(tmp_path / "narrow")
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "narrow").eval()
    assert getattr(reloaded.config, teacher.arch.ffn_size_key) == width - len(dead)
    torch.testing.assert_close(
        reloaded(input_ids=ids, attention_mask=mask).logits, narrow(input_ids=ids, attention_mask=mask).logits
    )
    assert getattr(teacher.model.config, teacher.arch.ffn_size_key) == width  # the teacher keeps its width


def test_narrowing_rejects_sizes_that_are_not_narrower(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir)  # FFN width 37
    for size in (37, 40):
        with pytest.raises(ConfigError, match="keep 1 to 36 of them"):
            narrow_ffn(teacher.model, teacher.arch, size)
    with pytest.raises(ConfigError, match="ffn_size must be >= 1"):
        StudentConfig(ffn_size=0)


def test_head_importance_is_value_norm_times_output_norm():
    value, output = nn.Linear(2, 4), nn.Linear(4, 2)  # 2 heads of size 2
    with torch.no_grad():
        value.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0], [1.0, 0.0], [0.0, 0.0]]))  # head norms 5, 1
        output.weight.copy_(torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))  # head norms 1, 2
    torch.testing.assert_close(attention_head_importance(value, output, 2), torch.tensor([5.0, 2.0]))


def _ids_and_mask() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 0, 0]])
    return ids, (ids != 0).long()


@pytest.mark.parametrize("fixture", ["tiny_teacher_4layer_dir", "tiny_distilbert_dir", "tiny_roberta_dir"])
def test_head_pruning_drops_the_dead_head_and_the_student_reloads(fixture, request, tmp_path):
    teacher = load_teacher(request.getfixturevalue(fixture))
    arch = teacher.arch
    heads = int(getattr(teacher.model.config, arch.num_heads_key))
    head_size = int(teacher.model.config.to_dict().get("hidden_size") or teacher.model.config.dim) // heads
    with torch.no_grad():
        for layer in arch.layers(teacher.model):
            arch.attention_projections(layer)[1].weight[:, :head_size] = 0.0  # head 0 cannot write to the output
    full, _ = build_student(teacher, StudentConfig(num_layers=1))
    pruned, _ = build_student(teacher, StudentConfig(num_layers=1, heads_fraction=(heads - 1) / heads))
    value, output = arch.attention_projections(arch.layers(pruned)[0])
    assert value.out_features == output.in_features == (heads - 1) * head_size
    assert value.weight.requires_grad and output.weight.requires_grad
    ids, mask = _ids_and_mask()
    full.eval(), pruned.eval()
    torch.testing.assert_close(
        pruned(input_ids=ids, attention_mask=mask).logits, full(input_ids=ids, attention_mask=mask).logits
    )
    # Hugging Face records the pruned heads in the config: the saved student reloads with its smaller attention.
    pruned.save_pretrained(tmp_path / "pruned")
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "pruned").eval()
    assert reloaded.config.pruned_heads == {0: [0]}
    torch.testing.assert_close(
        reloaded(input_ids=ids, attention_mask=mask).logits, pruned(input_ids=ids, attention_mask=mask).logits
    )
    assert not teacher.model.config.pruned_heads  # the teacher keeps its heads


def test_head_pruned_student_exports_fused_and_matches_pytorch(tiny_teacher_dir, tmp_path, caplog):
    from asdfd.export import ExportConfig, ValidationConfig, export_onnx
    from asdfd.runtime import Classifier

    teacher = load_teacher(tiny_teacher_dir)
    student, _ = build_student(teacher, StudentConfig(num_layers=1, num_heads=1))
    student.eval().save_pretrained(tmp_path / "student")
    teacher.tokenizer.save_pretrained(tmp_path / "student")
    result = export_onnx(
        tmp_path / "student",
        tmp_path / "student.onnx",
        ExportConfig(quantize="none", validation=ValidationConfig(num_samples=16, latency_runs=3), show_progress=False),
    )
    assert result.fusions["attention_fused"] and result.validation["final"]["max_abs_diff"] <= 1e-4
    assert "Input hidden size" not in caplog.text  # the fusion's expected size notice is not shown to users
    ids, mask = _ids_and_mask()
    with torch.no_grad():
        expected = student(input_ids=ids, attention_mask=mask).logits.numpy()
    actual = Classifier.load(result.path, threads=1).run(
        {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "token_type_ids": torch.zeros_like(ids).numpy()}
    )
    torch.testing.assert_close(torch.from_numpy(actual), torch.from_numpy(expected), atol=1e-4, rtol=0)


def test_head_pruning_rejects_counts_that_are_not_fewer(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir)  # 2 heads per layer
    for keep in (2, 3):
        with pytest.raises(ConfigError, match="keep 1 of them"):
            prune_attention_heads(teacher.model, teacher.arch, keep)
    with pytest.raises(ConfigError, match="num_heads must be >= 1"):
        StudentConfig(num_heads=0)
    with pytest.raises(ConfigError, match=r"heads_fraction must be in \(0, 1\]"):
        StudentConfig(heads_fraction=1.5)


def test_a_teacher_with_pruned_heads_gives_a_student_that_reloads(tiny_teacher_4layer_dir, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher_4layer_dir)
    model.prune_heads({1: [0], 3: [1]})
    model.save_pretrained(tmp_path / "teacher")
    for path in tiny_teacher_4layer_dir.iterdir():
        if path.name.startswith(("tokenizer", "vocab", "special")):
            (tmp_path / "teacher" / path.name).write_bytes(path.read_bytes())
    teacher = load_teacher(tmp_path / "teacher")
    student, layers = build_student(teacher, StudentConfig(layers=(1, 3)))
    assert layers == [1, 3] and student.config.pruned_heads == {0: [0], 1: [1]}  # renumbered for the student
    student.eval().save_pretrained(tmp_path / "student")
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student").eval()
    ids, mask = _ids_and_mask()
    torch.testing.assert_close(
        reloaded(input_ids=ids, attention_mask=mask).logits, student(input_ids=ids, attention_mask=mask).logits
    )
    with pytest.raises(ConfigError, match="already has pruned attention heads"):
        build_student(teacher, StudentConfig(layers=(1, 3), num_heads=1))
