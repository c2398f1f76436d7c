"""A synthesis method is one file: its config and its synthesizer, registered together; the loop runs it, and the
default run runs no AS-DFD code."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from asdfd.compressor import DistillConfig, distill
from asdfd.compressor.synthesis import registry
from asdfd.core.errors import ConfigError


@pytest.fixture()
def scratch_registry(monkeypatch):
    """Methods registered by a test are gone after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def _define_repeat_method():
    """The whole of a new method, as its own file would hold it."""
    from asdfd.compressor.synthesis import SynthBatch, SynthesisConfig, Synthesizer, register
    from asdfd.compressor.synthesis.tokens import random_token_batch

    @register("repeat")
    @dataclass(frozen=True, kw_only=True)
    class RepeatConfig(SynthesisConfig):
        """One random batch, shown again and again."""

        length: int = 6
        """Tokens per sample, [CLS] and [SEP] included."""

    @RepeatConfig.synthesizer
    class Repeat(Synthesizer):
        def __init__(self, context):
            super().__init__(context)
            special, length = context.teacher.special, self.options.length
            batch = context.config.batch_size
            self.ids, self.mask = random_token_batch(
                context.candidates, batch, length, length, special, context.generator
            )
            self.seen = 0

        def next_batch(self, step):
            return SynthBatch(attention_mask=self.mask, input_ids=self.ids)

        def after_step(self, step):
            self.seen = step

        def diagnostics(self, final=False):
            return {"repeat_steps": self.seen} if final else {}

    return RepeatConfig


def test_a_method_added_in_one_place_distills(tmp_path, rule_teacher_dir, scratch_registry):
    config_class = _define_repeat_method()
    config = DistillConfig(
        method="repeat", steps=3, batch_size=4, heldout_random=8, eval_every=2, threads=1, show_progress=False
    )
    assert type(config.synthesis) is config_class and "repeat" in registry.methods()
    result = distill(rule_teacher_dir, tmp_path / "s", config)
    assert result.metrics["steps"] == 3 and result.metrics["repeat_steps"] == 3
    assert json.loads((tmp_path / "s" / "distill.json").read_text())["config"]["synthesis"] == {"length": 6}
    with pytest.raises(ConfigError, match="synthesis holds --method repeat's options, not mix's"):
        DistillConfig(method="mix", synthesis=config_class(length=5))


def test_the_default_run_executes_no_asdfd_code(tmp_path, rule_teacher_dir, monkeypatch):
    import asdfd.compressor.asdfd_method.embedding_guess as guessing

    def refuse(*args, **kwargs):
        raise AssertionError("AS-DFD code ran in a default run")

    monkeypatch.setattr(guessing, "guess_batch", refuse)
    monkeypatch.setattr(guessing, "teacher_base_rate", refuse)
    config = DistillConfig(steps=2, batch_size=4, heldout_random=8, threads=1, show_progress=False)
    result = distill(rule_teacher_dir, tmp_path / "s", config)
    assert "heldout_pseudo_agreement" not in result.metrics and "heldout_words_agreement" in result.metrics


def test_distill_json_records_the_config_the_run_used(tmp_path, rule_teacher_dir):
    """Resolved once before the loop: the task shape and the eval length capped at the teacher's 64 positions."""
    config = DistillConfig(steps=1, batch_size=4, heldout_random=8, threads=1, show_progress=False)
    assert config.eval_max_length == 128 and config.input_kind == "auto"
    result = distill(rule_teacher_dir, tmp_path / "s", config)
    recorded = json.loads((tmp_path / "s" / "distill.json").read_text())["config"]
    assert recorded == result.config
    assert recorded["eval_max_length"] == 64 and recorded["input_kind"] == "single"
    again = distill(rule_teacher_dir, tmp_path / "s", config, resume=True)  # the same run: nothing to redo
    assert again.metrics == result.metrics


def test_asdfd_refuses_heads_it_cannot_guess_for(tmp_path, rule_teacher_dir):
    """The check lives in the AS-DFD plug-in: guessing needs one class per single text."""
    from asdfd.compressor import load_teacher
    from asdfd.compressor.devices import Placement
    from asdfd.compressor.loop import DistillLoop

    teacher = load_teacher(rule_teacher_dir)
    teacher.special = teacher.special.for_pairs(teacher.arch.pair_separators)
    with pytest.raises(ConfigError, match="--method asdfd guesses embeddings of single texts"):
        DistillLoop(teacher, DistillConfig(method="asdfd"), Placement(device=torch.device("cpu"), precision="fp32"))
