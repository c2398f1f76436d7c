"""Layer selection and the student copy: layers, head and embeddings taken from the teacher."""

from __future__ import annotations

import pytest
import torch

from asdfd.compressor import StudentConfig, build_student, load_teacher, select_layers
from asdfd.compressor.student import check_layers, cut_student, spread_layers, student_depth
from asdfd.core.errors import ConfigError


@pytest.mark.parametrize(
    "teacher_layers, config, expected",
    [
        (6, StudentConfig(), [0, 2, 5]),
        (6, StudentConfig(num_layers=2), [0, 5]),
        (6, StudentConfig(num_layers=1), [5]),
        (12, StudentConfig(), [0, 2, 4, 6, 8, 11]),
        (6, StudentConfig(layers=(1, 3, 5)), [1, 3, 5]),
        (4, StudentConfig(), [0, 3]),
        (5, StudentConfig(), [0, 4]),  # half rounds down
        (6, StudentConfig(depth_fraction=1 / 3), [0, 5]),
        (12, StudentConfig(depth_fraction=1 / 3), [0, 3, 7, 11]),
        (2, StudentConfig(depth_fraction=1 / 3), [1]),  # at least one layer
    ],
)
def test_select_layers_keeps_first_and_last(teacher_layers, config, expected):
    assert select_layers(teacher_layers, config) == expected


@pytest.mark.parametrize(
    "config, message",
    [
        (StudentConfig(num_layers=7), "larger than the teacher"),
        (StudentConfig(num_layers=6), "as large as the teacher"),
        (StudentConfig(layers=(0, 6)), "does not exist"),
    ],
)
def test_select_layers_rejects_students_that_do_not_fit(config, message):
    with pytest.raises(ConfigError, match=message):
        select_layers(6, config)


def test_build_student_copies_chosen_layers(tiny_teacher_4layer_dir):
    teacher = load_teacher(tiny_teacher_4layer_dir)
    student, layers = build_student(teacher, StudentConfig(layers=(1, 3)))
    assert layers == [1, 3] and student.config.num_hidden_layers == 2
    teacher_layers = teacher.arch.layers(teacher.model)
    for student_layer, source in zip(teacher.arch.layers(student), layers):
        torch.testing.assert_close(student_layer.state_dict(), teacher_layers[source].state_dict())
    student_embeddings = teacher.arch.word_embeddings(student).weight
    torch.testing.assert_close(student_embeddings, teacher.word_embeddings)
    assert not student_embeddings.requires_grad and student.classifier.weight.requires_grad
    assert student_embeddings.data_ptr() != teacher.word_embeddings.data_ptr()  # a copy, not shared
    assert all(not p.requires_grad for p in teacher.model.parameters())


@pytest.mark.parametrize(
    "teacher_layers, config, depth",
    [
        (6, StudentConfig(), 3),
        (6, StudentConfig(depth_fraction=1 / 3), 2),
        (6, StudentConfig(num_layers=4, layer_choice="auto"), 4),
        (12, StudentConfig(layers=(0, 11)), 2),
    ],
)
def test_student_depth(teacher_layers, config, depth):
    assert student_depth(teacher_layers, config) == depth


def test_spread_and_checked_layers():
    assert spread_layers(6, 2) == [0, 5] and spread_layers(6, 1) == [5] and spread_layers(12, 4) == [0, 3, 7, 11]
    assert check_layers(6, [1, 4]) == [1, 4]
    for layers, message in (([0, 6], "does not exist"), ([0, 1, 2, 3, 4, 5], "as large as"), ([1, 1], "not fit")):
        with pytest.raises(ConfigError, match=message):
            check_layers(6, layers)
    # "auto" without a choice made: the spread, the reference the choice is scored against
    assert select_layers(6, StudentConfig(depth_fraction=1 / 3, layer_choice="auto")) == [0, 5]


def test_build_student_takes_the_chosen_layers(tiny_teacher_4layer_dir):
    teacher = load_teacher(tiny_teacher_4layer_dir)
    student, layers = build_student(teacher, StudentConfig(layer_choice="auto"), layers=[0, 1])
    assert layers == [0, 1] and student.config.num_hidden_layers == 2
    for student_layer, source in zip(teacher.arch.layers(student), layers):
        torch.testing.assert_close(student_layer.state_dict(), teacher.arch.layers(teacher.model)[source].state_dict())
    with pytest.raises(ConfigError, match="does not exist"):
        build_student(teacher, StudentConfig(), layers=[0, 4])
    cut = cut_student(teacher, StudentConfig(ffn_fraction=0.5), [2])  # the untrained cut, narrowed
    assert (
        cut.config.num_hidden_layers == 1
        and cut.config.intermediate_size == teacher.model.config.intermediate_size // 2
    )


@pytest.mark.parametrize("dropout", [True, False])
def test_student_dropout_is_the_teachers_or_none(tiny_teacher_4layer_dir, dropout):
    """With dropout off the student trains in eval mode: the same input gives the same output twice, and gradients
    still reach every trainable weight."""
    teacher = load_teacher(tiny_teacher_4layer_dir)
    student, _ = build_student(teacher, StudentConfig(layers=(0, 3), dropout=dropout))
    assert student.training is dropout
    embeds = teacher.embed_ids(torch.randint(5, 99, (8, 12), generator=torch.Generator().manual_seed(0)))
    torch.manual_seed(0)
    first, second = student(inputs_embeds=embeds).logits, student(inputs_embeds=embeds).logits
    assert torch.equal(first, second) is not dropout  # the tiny teacher's dropout is 0.1: masks differ when on
    first.sum().backward()
    trainable = [p for p in student.parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for p in trainable)
