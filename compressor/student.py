"""The student: a shallower (and optionally narrower) copy of the teacher (PKD/DistilBERT-style layer selection).

Embeddings, pooler and classifier head are copied; the transformer layers are a subset of the
teacher's, spread over the depth with the last one always kept (it feeds the pooler). Which layers are kept
matters as much as how many: before any distillation, keeping the first and the last layer kept the most accuracy
(measured on a prototype SST-2 teacher: docs/method.md, section 'Measured here').
With `ffn_size` / `ffn_fraction` (`num_heads` / `heads_fraction`), each kept layer also loses its least important
feed-forward neurons (attention heads); see pruning.py.
"""

from __future__ import annotations

import copy
import logging
import math

from torch import nn

from asdfd.compressor.distill_config import StudentConfig
from asdfd.compressor.frozen_teacher import Teacher
from asdfd.compressor.pruning import narrow_ffn, prune_attention_heads
from asdfd.core.errors import ConfigError
from asdfd.core.model_folder import INPUT_KEY

__all__ = ["student_depth", "spread_layers", "check_layers", "select_layers", "cut_student", "build_student"]

logger = logging.getLogger(__name__)


def student_depth(num_teacher_layers: int, config: StudentConfig) -> int:
    """Layers the student keeps: `len(layers)`, `num_layers`, or `depth_fraction` of the teacher's (at least one)."""
    if config.layers is not None:
        return len(config.layers)
    if config.num_layers is not None:
        return config.num_layers
    # floor, so "half" of 5 or 3 layers stays 2 or 1 (the epsilon absorbs float error, e.g. 6 * (1/3))
    return max(1, math.floor(num_teacher_layers * config.depth_fraction + 1e-9))


def spread_layers(num_teacher_layers: int, count: int) -> list[int]:
    """`count` layers evenly spread from the first to the last, e.g. (6, 3) -> [0, 2, 5]; one layer: the last."""
    if count == 1:
        return [num_teacher_layers - 1]
    return [int(i * (num_teacher_layers - 1) / (count - 1)) for i in range(count)]


def check_layers(num_teacher_layers: int, layers: list[int]) -> list[int]:
    """`layers` when a student of them fits the teacher.

    Raises:
        ConfigError: a student as deep as or deeper than the teacher, or a layer the teacher lacks.
    """
    layers = list(layers)
    if layers and layers[-1] >= num_teacher_layers:
        raise ConfigError(
            f"student layer {layers[-1]} does not exist: the teacher has layers 0..{num_teacher_layers - 1}"
        )
    if len(layers) > num_teacher_layers:
        raise ConfigError(f"student of {len(layers)} layers is larger than the teacher ({num_teacher_layers} layers)")
    if len(layers) == num_teacher_layers and num_teacher_layers > 1:
        raise ConfigError(f"student of {len(layers)} layers is as large as the teacher: choose fewer --student-layers")
    if len(set(layers)) != len(layers):
        raise ConfigError(f"student of {len(layers)} layers does not fit a {num_teacher_layers}-layer teacher")
    return layers


def select_layers(num_teacher_layers: int, config: StudentConfig) -> list[int]:
    """Teacher layers the student is initialised from, unless the teacher chooses them (`layer_choice` "auto",
    asdfd.compressor.layer_choice: there this spread is the reference every choice is scored against).

    Default: `depth_fraction` of the depth (half, rounded down), evenly spread from the first to the last
    layer, e.g. 6 -> [0, 2, 5], 12 -> [0, 2, 4, 6, 8, 11]; a third of 6 -> [0, 5].

    Raises:
        ConfigError: a student as deep as or deeper than the teacher, or a layer the teacher lacks.
    """
    if config.layers is not None:
        return check_layers(num_teacher_layers, list(config.layers))
    return check_layers(
        num_teacher_layers, spread_layers(num_teacher_layers, student_depth(num_teacher_layers, config))
    )


def _rebuilt(student: nn.Module) -> nn.Module:
    """The student as `from_pretrained` would rebuild it from its config, with its weights loaded: for families whose
    layers behave by their index (`Architecture.layers_know_their_index`), what is trained is what reloads."""
    fresh = type(student)(student.config).to(next(student.parameters()).device).eval()
    result = fresh.load_state_dict(student.state_dict(), strict=False)
    if result.missing_keys:  # a fresh parameter the cut model lacked would start random: never silently
        raise RuntimeError(f"rebuilding the student left {result.missing_keys} uninitialised")
    if result.unexpected_keys:
        logger.info("student rebuilt by layer index; dropped %s", result.unexpected_keys)
    return fresh


def cut_student(teacher: Teacher, config: StudentConfig, layers: list[int]) -> nn.Module:
    """The teacher cut to `layers` and narrowed as `config` says (FFN neurons, attention heads): the untrained
    student, before `build_student` decides what trains. Draws from torch's global RNG when narrowing or rebuilding
    (new modules are initialised before the kept weights are copied in)."""
    student = copy.deepcopy(teacher.model)
    teacher_layers = teacher.arch.layers(teacher.model)
    teacher.arch.set_layers(student, [copy.deepcopy(teacher_layers[i]) for i in layers])
    if student.config.pruned_heads:  # keyed by layer index: renumber for the student, or reloading would misprune
        student.config.pruned_heads = {
            new: student.config.pruned_heads[old]
            for new, old in enumerate(layers)
            if old in student.config.pruned_heads
        }
    ffn_neurons = config.ffn_neurons(int(getattr(student.config, teacher.arch.ffn_size_key)))
    if ffn_neurons is not None:
        narrow_ffn(student, teacher.arch, ffn_neurons)
    heads = config.attention_heads(int(getattr(student.config, teacher.arch.num_heads_key)))
    if heads is not None:
        if not teacher.arch.head_pruning:
            raise ConfigError(
                f"{teacher.arch.name} students keep every attention head (transformers cannot prune its heads): "
                "drop --student-heads"
            )
        prune_attention_heads(student, teacher.arch, heads)
    if teacher.arch.layers_know_their_index:
        student = _rebuilt(student)
    return student


def build_student(
    teacher: Teacher, config: StudentConfig, layers: list[int] | None = None
) -> tuple[nn.Module, list[int]]:
    """A trainable student copied from `teacher`, and the teacher layer each student layer came from.

    The word-embedding matrix stays equal to the teacher's and frozen (unless configured otherwise),
    so pseudo embeddings live in the space real token ids map into at inference.

    Args:
        layers: the teacher layers to keep (the teacher's own choice, asdfd.compressor.layer_choice); none =
            `select_layers(config)`.
    """
    if layers is None:
        layers = select_layers(teacher.num_layers, config)
    else:
        layers = check_layers(teacher.num_layers, layers)
    student = cut_student(teacher, config, layers)
    student.requires_grad_(True)
    if config.freeze_word_embeddings:
        teacher.arch.word_embeddings(student).weight.requires_grad_(False)
    if teacher.uses_segments:  # Teacher.embed_ids folds the segment offset into the inputs: keep it the teacher's
        teacher.arch.encoder(student).embeddings.token_type_embeddings.requires_grad_(False)
    setattr(student.config, INPUT_KEY, "pair" if teacher.pairs else "single")  # export and runtime read it
    student.train(config.dropout)  # eval mode = no dropout; gradients flow either way
    logger.info(
        "student: %d of %d teacher layers %s, FFN width %s, %s attention heads per layer",
        len(layers),
        teacher.num_layers,
        layers,
        getattr(student.config, teacher.arch.ffn_size_key),
        config.attention_heads(int(getattr(teacher.model.config, teacher.arch.num_heads_key)))
        or getattr(student.config, teacher.arch.num_heads_key),
    )
    return student, layers
