"""DistillConfig: validation of every bad value, presets, and the JSON round trip."""

from __future__ import annotations

import dataclasses

import pytest

from asdfd.compressor import (
    AdversarialConfig,
    AsdfdConfig,
    DistillConfig,
    GuessConfig,
    SelfSupervisedConfig,
    StudentConfig,
)
from asdfd.compressor.synthesis.guided import GuidedConfig
from asdfd.compressor.synthesis.hotflip import HotFlipConfig
from asdfd.compressor.synthesis.words import WordsConfig
from asdfd.core.config_file import apply_overrides
from asdfd.core.errors import ConfigError


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: DistillConfig(steps=-1), "steps"),
        (lambda: DistillConfig(lr=0), "lr"),
        (lambda: DistillConfig(batch_size=1), "batch_size"),
        (lambda: DistillConfig(temperature=0), "temperature"),
        (lambda: DistillConfig(method="gan"), "method"),
        (lambda: DistillConfig(device="tpu"), "device"),
        (lambda: DistillConfig(min_length=20, max_length=10), "min_length"),
        (lambda: AsdfdConfig(random_token_fraction=1.5), "random_token_fraction"),
        (lambda: AsdfdConfig(heldout_pseudo=0), "heldout_pseudo"),
        (lambda: WordsConfig(word_pieces=1.0), "synthesis.word_pieces"),
        (lambda: GuidedConfig(oversample=0), "synthesis.oversample"),
        (lambda: GuidedConfig(uncertain_fraction=2), "synthesis.uncertain_fraction"),
        (lambda: HotFlipConfig(flip_every=0), "synthesis.flip_every"),
        (lambda: HotFlipConfig(flip_positions=0), "synthesis.flip_positions"),
        (lambda: DistillConfig(method="words", synthesis=AsdfdConfig(use_stage2=False)), "not words's"),
        (lambda: DistillConfig(max_seconds=0), "max_seconds"),
        (lambda: StudentConfig(num_layers=0), "num_layers"),
        (lambda: StudentConfig(layers=(2, 0)), "increasing"),
        (lambda: StudentConfig(layers=(0, 0)), "repeat"),
        (lambda: StudentConfig(num_layers=2, layers=(0, 2, 5)), "disagrees"),
        (lambda: StudentConfig(ffn_size=0), "ffn_size"),
        (lambda: StudentConfig(ffn_fraction=0), "ffn_fraction"),
        (lambda: StudentConfig(ffn_fraction=1.5), "ffn_fraction"),
        (lambda: GuessConfig(steps=0), "guess.steps"),
        (lambda: GuessConfig(label_smoothing=1.0), "label_smoothing"),
        (lambda: GuessConfig(targets="uniform"), "targets"),
        (lambda: SelfSupervisedConfig(mask_fraction=0), "mask_fraction"),
        (lambda: AdversarialConfig(every=0), "every"),
    ],
)
def test_bad_values_raise_config_error(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_presets_and_round_trip():
    fast, full = DistillConfig.for_budget("fast"), DistillConfig.for_budget("full")
    assert fast.max_seconds is not None and full.max_seconds is None  # fast: time decides; full: its steps
    assert DistillConfig.for_budget("fast", seed=3).seed == 3
    with pytest.raises(ConfigError, match="unknown budget"):
        DistillConfig.for_budget("huge")
    paper = DistillConfig.paper()
    assert paper.method == "asdfd" and paper.synthesis.guess.targets == "balanced"
    assert paper.hidden_weight == 0 and paper.synthesis.random_token_fraction == 0
    assert paper.student.dropout and not fast.student.dropout and not full.student.dropout  # ours: no dropout
    config = dataclasses.replace(fast, student=StudentConfig(layers=(0, 2, 5), ffn_fraction=0.5))
    assert apply_overrides(DistillConfig(), config.to_dict()) == config  # the config-file round trip
    asdfd = DistillConfig.for_budget("full", method="asdfd")
    assert apply_overrides(DistillConfig(), asdfd.to_dict()) == asdfd  # `method` first, then its section


def test_the_synthesis_section_follows_the_method():
    assert type(DistillConfig().synthesis).method == "forms"
    assert type(dataclasses.replace(DistillConfig(), method="hotflip").synthesis) is HotFlipConfig
    assert DistillConfig(method="asdfd").synthesis == AsdfdConfig()
    assert DistillConfig.for_budget("fast", method="asdfd").synthesis.heldout_pseudo == 32


@pytest.mark.parametrize(
    "student, width, expected",
    [
        (StudentConfig(), 1536, None),  # full width
        (StudentConfig(ffn_fraction=2 / 3), 1536, 1024),
        (StudentConfig(ffn_fraction=2 / 3), 37, 25),
        (StudentConfig(ffn_fraction=0.01), 37, 1),  # never zero neurons
        (StudentConfig(ffn_fraction=0.99), 37, None),  # rounds to the full width
        (StudentConfig(ffn_fraction=0.5, ffn_size=700), 1536, 700),  # a count overrides the share
    ],
)
def test_ffn_neurons(student, width, expected):
    assert student.ffn_neurons(width) == expected


@pytest.mark.parametrize(
    "student, heads, expected",
    [
        (StudentConfig(), 12, None),
        (StudentConfig(heads_fraction=2 / 3), 12, 8),
        (StudentConfig(heads_fraction=0.01), 12, 1),
        (StudentConfig(heads_fraction=0.97), 12, None),  # rounds to every head
        (StudentConfig(heads_fraction=0.5, num_heads=10), 12, 10),
        (StudentConfig(ffn_fraction=0.5), 12, None),  # narrowing the FFN leaves the heads alone
    ],
)
def test_attention_heads(student, heads, expected):
    assert student.attention_heads(heads) == expected
