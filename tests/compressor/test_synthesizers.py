"""Synthesizers behind one interface: what each produces, that the loop trains on it, and bit-exact resume."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from asdfd.compressor import DistillConfig, distill, load_teacher
from asdfd.compressor.checkpoint import checkpoint_dir
from asdfd.compressor.devices import Placement
from asdfd.compressor.distill_config import METHODS
from asdfd.compressor.loop import DistillLoop
from asdfd.compressor.synthesis import method_config, methods
from asdfd.compressor.synthesis.guided import select_inputs
from asdfd.compressor.synthesis.hotflip import flip_tokens
from asdfd.compressor.synthesis.words import WordsConfig
from asdfd.core.errors import ConfigError

CPU = Placement(device=torch.device("cpu"), precision="fp32")


def _config(method: str, **overrides) -> DistillConfig:
    base = DistillConfig(
        method=method,
        steps=10,
        batch_size=8,
        max_length=16,
        heldout_random=32,
        eval_every=5,
        log_every=1,
        checkpoint_every=3,
        threads=1,
        show_progress=False,
    )
    return dataclasses.replace(base, **overrides)


def test_every_method_has_a_synthesizer_and_unknown_ones_are_refused(tiny_teacher_dir):
    assert METHODS == methods() and {"random-tokens", "words", "mix", "guided", "hotflip", "asdfd"} <= set(METHODS)
    assert all(method_config(name).synthesizer_class is not None for name in METHODS)
    loop = DistillLoop(load_teacher(tiny_teacher_dir), _config("words"), CPU)
    assert type(loop.synthesizer) is method_config("words").synthesizer_class
    with pytest.raises(ConfigError, match="unknown method 'bigrams'"):
        method_config("bigrams")
    with pytest.raises(ConfigError, match="method must be one of"):
        _config("bigrams")


def test_words_never_start_with_a_continuation_piece(tiny_teacher_dir):
    loop = DistillLoop(load_teacher(tiny_teacher_dir), _config("words", synthesis=WordsConfig(word_pieces=0.5)), CPU)
    vocab = {i: t for t, i in loop.teacher.tokenizer.get_vocab().items()}
    batch = loop.synthesizer.next_batch(0)
    ids, mask = batch.input_ids, batch.attention_mask
    assert ids.shape[0] == 8 and bool((ids[:, 0] == loop.teacher.special.cls).all())
    first_words = ids[:, 1]
    assert not any(vocab[int(i)].startswith("##") for i in first_words)
    body = ids[mask.bool()].tolist()
    assert not set(body) & (
        set(loop.teacher.special.all_special) - {loop.teacher.special.cls, loop.teacher.special.sep}
    )


def test_selection_covers_every_class_and_takes_uncertain_rows():
    probs = torch.tensor([[0.98, 0.01, 0.01]] * 6 + [[0.5, 0.45, 0.05], [0.34, 0.33, 0.33], [0.6, 0.1, 0.3]])
    chosen = select_inputs(probs, 4, uncertain_fraction=0.25)
    assert len(set(chosen.tolist())) == 4
    assert 7 in chosen.tolist()  # the highest-entropy row
    # class 2 is never the argmax, yet its most likely row (p=0.3) is kept; class 1 gets its best (p=0.45) or next
    assert 8 in chosen.tolist() and 6 in chosen.tolist()


def test_guided_batches_carry_the_teachers_outputs_for_the_kept_rows(tiny_teacher_dir):
    loop = DistillLoop(load_teacher(tiny_teacher_dir), _config("guided"), CPU)
    batch = loop.synthesizer.next_batch(0)
    assert batch.teacher_logits is not None and batch.teacher_hidden is not None
    with torch.no_grad():
        out = loop.teacher.model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True
        )
    torch.testing.assert_close(batch.teacher_logits, out.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batch.teacher_hidden[-1], out.hidden_states[-1], rtol=1e-4, atol=1e-4)


def test_hotflip_swaps_raise_the_first_order_disagreement():
    torch.manual_seed(0)
    vocabulary = torch.randn(20, 4)
    ids = torch.tensor([[0, 5, 6, 7, 1]])
    mask = torch.ones_like(ids)
    gradient = torch.randn(1, 5, 4)
    words = torch.arange(2, 20)
    flipped = flip_tokens(ids, mask, gradient, vocabulary, words, positions=2)
    changed = (flipped != ids).nonzero()[:, 1].tolist()
    assert 1 <= len(changed) <= 2 and 0 not in changed and 4 not in changed  # never [CLS]/[SEP]
    for position in changed:
        gain = (vocabulary[flipped[0, position]] - vocabulary[ids[0, position]]) @ gradient[0, position]
        assert float(gain) > 0


@pytest.mark.parametrize("method", ["words", "guided", "hotflip"])
def test_each_synthesizer_distills_and_resumes_bit_exactly(tmp_path, rule_teacher_dir, method):
    config = _config(method, student=dataclasses.replace(DistillConfig().student, layers=(0, 3)))
    reference = distill(rule_teacher_dir, tmp_path / "reference", config)
    assert reference.metrics["steps"] == 10 and "train_teacher_balance" in reference.metrics
    assert {"heldout_words_agreement", "heldout_words_confident_agreement", "heldout_words_macro_agreement"} <= set(
        reference.metrics
    )

    def stop_at_7(progress: dict) -> None:
        if progress["step"] >= 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(rule_teacher_dir, tmp_path / "resumed", config, on_progress=stop_at_7)
    assert torch.load(checkpoint_dir(tmp_path / "resumed") / "state.pt", weights_only=True)["step"] == 7
    resumed = distill(rule_teacher_dir, tmp_path / "resumed", config, resume=True)
    expected = load_file(reference.student_dir / "model.safetensors")
    actual = load_file(resumed.student_dir / "model.safetensors")
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)
    assert resumed.metrics["train_teacher_balance"] == reference.metrics["train_teacher_balance"]
