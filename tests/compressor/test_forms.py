"""The forms method: each form's shape from the teacher's tokenizer, the allocator's arithmetic, its diagnostics
in distill.json, a skipped form when the vocabulary lacks its words, and bit-exact resume."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from asdfd.compressor import DistillConfig, distill, load_teacher
from asdfd.compressor.devices import Placement
from asdfd.compressor.distill_config import StudentConfig
from asdfd.compressor.loop import DistillLoop, resolve_config
from asdfd.compressor.synthesis.forms import (
    PAIR_FORMS,
    FormsConfig,
    batch_counts,
    form_novelty,
    form_shares,
    normalized_entropy,
)
from asdfd.core.errors import ConfigError
from asdfd.core.model_folder import read_classifier_config
from tests.conftest import WORDS, build_tiny_teacher

CPU = Placement(device=torch.device("cpu"), precision="fp32")
QUESTION_WORDS = ["what", "who", "how", "many", "which", "where", "is", "are", "does", "?"]
PIECES = ["##s", "##ed", "##ing", "##ly"]


def _config(**overrides) -> DistillConfig:
    base = DistillConfig(
        method="forms",
        steps=12,
        batch_size=10,
        max_length=16,
        heldout_random=32,
        eval_every=6,
        log_every=1,
        checkpoint_every=4,
        threads=1,
        show_progress=False,
        synthesis=FormsConfig(warmup=1, update_every=2),
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="module")
def question_teacher(tmp_path_factory):
    """A tiny BERT whose vocabulary has English question words and '?' (the conftest one has neither)."""
    folder = tmp_path_factory.mktemp("question-teacher")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *QUESTION_WORDS, *PIECES]
    vocab += [f"w{i}" for i in range(99 - len(vocab))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    from transformers import BertTokenizerFast

    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=64).save_pretrained(folder)
    tokenizer_files = {p.name: p.read_bytes() for p in folder.iterdir()}
    built = build_tiny_teacher(tmp_path_factory.mktemp("question-weights"), num_hidden_layers=4)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(built / name, folder / name)
    for name, data in tokenizer_files.items():
        (folder / name).write_bytes(data)
    return folder


def test_shares_follow_rewards_and_coverage_and_keep_a_floor():
    shares = form_shares([1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 1.0, 1.0], min_share=0.05)
    assert sum(shares) == pytest.approx(1.0) and min(shares) == pytest.approx(0.05)
    assert shares[3] > shares[0] > shares[1] > shares[2]  # more to learn > less; one-class coverage counts half
    assert shares[0] - 0.05 == pytest.approx(2 * (shares[1] - 0.05))
    assert form_shares([0.0, 0.0], [1.0, 1.0], 0.05) == [0.5, 0.5]
    assert batch_counts([0.5, 0.3, 0.2], 7) == [4, 2, 1] and sum(batch_counts([0.26] * 3 + [0.22], 10)) == 10
    assert (
        normalized_entropy(torch.tensor([5, 5])) == pytest.approx(1.0) and normalized_entropy(torch.tensor([9, 0])) == 0
    )


def test_novelty_pays_a_form_for_what_plain_text_does_not_teach():
    counts = torch.tensor([[50, 50], [40, 60], [50, 50], [90, 10], [0, 0]])
    plain = [True, True, False, False, False]
    pay = form_novelty(counts, plain, scale=0.5)  # plain text: 45% / 55%
    assert pay[:2] == [1.0, 1.0] and pay[4] == 1.0  # plain forms, and a form not seen yet, keep full pay
    assert pay[2] == pytest.approx(0.05 / 0.5) and pay[3] == pytest.approx(0.45 / 0.5)
    assert form_novelty(counts, plain, scale=0.0) == [1.0] * 5  # the flat rule
    assert form_novelty(counts, [False] * 5, scale=0.5) == [1.0] * 5  # pair forms: nothing to compare with
    shares = form_shares([1.0, 1.0, 1.0, 1.0], [1.0] * 4, min_share=0.05, pay=[1.0, 1.0, 0.0, 0.5])
    assert shares[2] == pytest.approx(0.05) and shares[0] - 0.05 == pytest.approx(2 * (shares[3] - 0.05))


def test_config_values_are_checked():
    with pytest.raises(ConfigError, match="synthesis.min_share must be in"):
        FormsConfig(min_share=0.5)
    with pytest.raises(ConfigError, match="synthesis.novelty_scale must be in"):
        FormsConfig(novelty_scale=-0.1)


def test_single_text_forms_and_a_question_skipped_without_question_words(tiny_teacher_dir, question_teacher):
    without = DistillLoop(load_teacher(tiny_teacher_dir), _config(), CPU).synthesizer
    assert without.forms == ("tokens", "words", "short") and "question" in without.skipped
    loop = DistillLoop(load_teacher(question_teacher), _config(method="mix", synthesis=None), CPU)
    loop.build_heldouts()  # the probes have every form, whatever the method
    assert [h.name for h in loop.heldouts] == ["heldout_random", "heldout_words", "heldout_short", "heldout_question"]
    loop = DistillLoop(load_teacher(question_teacher), _config(), CPU)
    synthesizer = loop.synthesizer
    assert synthesizer.forms == ("tokens", "words", "short", "question")
    vocab = {i: t for t, i in loop.teacher.tokenizer.get_vocab().items()}
    batch = synthesizer.next_batch(0)
    form_of = batch.extra["form_of"]
    assert batch.input_ids.shape[0] == 10 and sorted(set(form_of.tolist())) == [0, 1, 2, 3]
    for row, mask, form in zip(batch.input_ids, batch.attention_mask, form_of):
        text = [vocab[int(i)] for i in row[: int(mask.sum())]]
        assert text[0] == "[CLS]" and text[-1] == "[SEP]" and len(text) <= 16
        if synthesizer.forms[form] == "question":
            assert text[-2] == "?" and text[1] in QUESTION_WORDS
        if synthesizer.forms[form] == "short":
            assert 3 <= len(text) <= 8


@pytest.mark.parametrize("word_pieces", [0.0, 0.5])
def test_single_text_forms_split_words_into_pieces_as_real_text_does(question_teacher, word_pieces):
    config = _config(batch_size=64, synthesis=FormsConfig(word_pieces=word_pieces))
    synthesizer = DistillLoop(load_teacher(question_teacher), config, CPU).synthesizer
    vocab = {i: t for t, i in synthesizer.context.teacher.tokenizer.get_vocab().items()}
    batch, pieces = synthesizer.next_batch(0), 0
    for row, mask, form in zip(batch.input_ids, batch.attention_mask, batch.extra["form_of"]):
        text = [vocab[int(i)] for i in row[1 : int(mask.sum()) - 1]]
        if synthesizer.forms[form] != "tokens":
            assert not text[0].startswith("##")  # a text never starts mid-word
            pieces += sum(token.startswith("##") for token in text)
    assert (pieces > 0) == (word_pieces > 0)


def test_pair_forms_relate_their_two_texts(tmp_path_factory, tiny_teacher_dir, question_teacher):
    labels = dict(num_labels=2, id2label={0: "not_equivalent", 1: "equivalent"}, label2id={})
    labels["label2id"] = {v: k for k, v in labels["id2label"].items()}
    teacher = build_tiny_teacher(tmp_path_factory.mktemp("pair-forms"), **labels)
    loop = DistillLoop(load_teacher(teacher), _config(max_length=40, min_length=12), CPU)
    synthesizer, special = loop.synthesizer, loop.teacher.special
    assert special.pairs and synthesizer.forms == PAIR_FORMS
    for form in PAIR_FORMS:
        a, b = synthesizer.builder._pair(form)
        assert a and b
        if form == "reorder":
            assert sorted(a) == sorted(b)
        if form == "hypothesis":
            assert 3 <= len(b) <= 9 and len(b) < len(a)
        if form == "swap":
            assert len(a) < len(b)
    batch = synthesizer.next_batch(0)
    for row, mask in zip(batch.input_ids, batch.attention_mask):
        ids = row[: int(mask.sum())].tolist()
        assert ids[0] == special.cls and ids[-1] == special.sep and ids.count(special.sep) == 2
    # Pair teachers get their own depth (pair_depth_fraction); single-text teachers keep depth_fraction.
    student = StudentConfig(depth_fraction=0.25, pair_depth_fraction=0.5)
    assert resolve_config(_config(student=student), read_classifier_config(teacher)).student.depth_fraction == 0.5
    assert (
        resolve_config(_config(student=student), read_classifier_config(tiny_teacher_dir)).student.depth_fraction
        == 0.25
    )
    # Pair forms draw whole words and have no plain form to compare with: neither word pieces nor novelty changes
    # what a pair teacher's student learns (the pair path is the one measured on MRPC before both existed).
    where = tmp_path_factory.mktemp("pair-runs")
    pieces_teacher = where / "teacher"  # this pair teacher with a vocabulary that has "##" pieces
    shutil.copytree(question_teacher, pieces_teacher)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(teacher / name, pieces_teacher / name)
    options = FormsConfig(warmup=1, update_every=2, word_pieces=0.5, novelty_scale=0.5)
    runs = [
        distill(pieces_teacher, where / name, _config(max_length=40, min_length=12, steps=6, **extra))
        for name, extra in (("default", {}), ("novelty", {"synthesis": options}))
    ]
    weights = [load_file(run.student_dir / "model.safetensors") for run in runs]
    for key in weights[0]:
        torch.testing.assert_close(weights[1][key], weights[0][key], rtol=0, atol=0)
    loop.build_heldouts()  # a probe per pair form, whatever the method
    names = [heldout.name for heldout in loop.heldouts]
    assert names == ["heldout_random", "heldout_words", *(f"heldout_{form}" for form in PAIR_FORMS)]


def test_forms_distill_record_their_shares_and_resume_bit_exactly(tmp_path, rule_teacher_dir):
    config = _config()
    reference = distill(rule_teacher_dir, tmp_path / "reference", config)
    forms = reference.metrics["forms"]
    assert set(forms) == {"tokens", "words", "short"} and reference.metrics["forms_skipped"]
    assert sum(f["share"] for f in forms.values()) == pytest.approx(1.0, abs=1e-3)
    assert all(f["observed"] > 0 and f["kd"] > 0 and 0 <= f["novelty"] <= 1 for f in forms.values())
    assert forms["tokens"]["novelty"] == forms["words"]["novelty"] == 1.0
    assert len({f["share"] for f in forms.values()}) > 1  # the allocator moved the shares off uniform
    saved = json.loads((reference.student_dir / "distill.json").read_text())
    assert saved["metrics"]["forms"] == forms
    # The probes measure every form the vocabulary builds (not "question": this vocabulary lacks its words).
    assert {"heldout_random_agreement", "heldout_words_agreement", "heldout_short_agreement"} <= set(saved["metrics"])
    assert "heldout_question_agreement" not in saved["metrics"]

    def stop_at_7(progress: dict) -> None:
        if progress["step"] >= 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(rule_teacher_dir, tmp_path / "resumed", config, on_progress=stop_at_7)
    resumed = distill(rule_teacher_dir, tmp_path / "resumed", config, resume=True)
    expected = load_file(reference.student_dir / "model.safetensors")
    actual = load_file(resumed.student_dir / "model.safetensors")
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)
    assert resumed.metrics["forms"] == forms
