"""`distill(...)` end to end on tiny teachers: learning, teacher untouched, output folder, resume, NaN, bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, BertConfig, BertModel

from asdfd.compressor import (
    AdversarialConfig,
    AsdfdConfig,
    DistillConfig,
    GuessConfig,
    StudentConfig,
    distill,
    load_teacher,
)
from asdfd.compressor.checkpoint import checkpoint_dir
from asdfd.compressor.devices import Placement
from asdfd.compressor.diagnostics import predict_logits
from asdfd.compressor.loop import DistillLoop
from asdfd.compressor.losses import kd_loss
from asdfd.core.errors import ConfigError, DataError, ModelLoadError, OutputExistsError, TrainingDivergedError

CPU = Placement(device=torch.device("cpu"), precision="fp32")


def small_config(synthesis: AsdfdConfig | None = None, **overrides) -> DistillConfig:
    """Full AS-DFD (stage 1 + adversarial self-supervised stage 2 + our mix), tiny and fast.

    Uniform token draws, like the held-out random-token set the agreement assertions read: on the 99-token test
    vocabulary the Zipf prior spends most draws on a handful of tokens.
    """
    method = overrides.pop("method", "asdfd")
    if method == "asdfd" and synthesis is None:
        synthesis = AsdfdConfig(
            heldout_pseudo=16, guess=GuessConfig(steps=4, lr=0.05, pool_size=16), adversarial=AdversarialConfig(every=2)
        )
    base = DistillConfig(
        method=method,
        vocab_prior="uniform",
        steps=12,
        batch_size=8,
        lr=1e-3,
        max_length=16,
        heldout_random=64,
        synthesis=synthesis,
        eval_every=4,
        log_every=2,
        checkpoint_every=4,
        show_progress=False,
        threads=1,
    )
    return dataclasses.replace(base, **overrides)


def _heldout_pseudo_kl(trainer: DistillLoop) -> float:
    heldout = trainer.synthesizer.heldout  # AS-DFD's own held-out set
    assert heldout.name == "heldout_pseudo"
    logits = predict_logits(trainer.student, heldout.embeds, heldout.attention_mask, CPU)
    return float(kd_loss(logits, heldout.teacher_logits, 1.0))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_student_alone_trains_under_the_training_attention_kernel(rule_teacher_dir):
    """One student forward a step runs under `Placement.training_attention` (the math kernel on CPU); the frozen
    teacher keeps torch's own choice."""
    entered = []

    class Recording(Placement):
        def training_attention(self):
            entered.append(True)
            return super().training_attention()

    placement = Recording(device=torch.device("cpu"), precision="fp32")
    loop = DistillLoop(load_teacher(rule_teacher_dir), small_config(method="forms", synthesis=None), placement)
    for steps in (1, 2):
        loop.train_step()
        assert len(entered) == steps


def test_distillation_raises_agreement_and_leaves_teacher_unchanged(rule_teacher_dir):
    teacher = load_teacher(rule_teacher_dir)
    snapshot = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    config = small_config(
        steps=60,
        batch_size=16,
        student=StudentConfig(layers=(0,)),
        synthesis=AsdfdConfig(
            heldout_pseudo=64,
            guess=GuessConfig(steps=10, lr=0.05, pool_size=64),
            adversarial=AdversarialConfig(every=2),
        ),
        heldout_random=256,
    )
    trainer = DistillLoop(teacher, config, CPU)
    assert trainer.optimizer.param_groups[0]["fused"]  # one AdamW kernel for every tensor
    trainer.build_heldouts()
    before = trainer.evaluate()
    kl_before = _heldout_pseudo_kl(trainer)
    frozen = trainer.teacher.arch.word_embeddings(trainer.student).weight.clone()
    for _ in trainer.synthesizer.prepare():  # stage 1: guess the pool
        pass
    for _ in range(config.steps):
        losses = trainer.train_step()
    after = trainer.evaluate()
    kl_after = _heldout_pseudo_kl(trainer)
    # The 1-layer student already agrees on most confident pseudo samples, so the argmax agreement has little
    # room: require it not to fall, the KL to the teacher on the same held-out pseudo samples to halve, and the
    # harder held-out random-token agreement to rise clearly.
    assert after["heldout_pseudo_agreement"] >= before["heldout_pseudo_agreement"], (before, after)
    assert kl_after < 0.5 * kl_before, (kl_before, kl_after)
    assert after["heldout_random_agreement"] > before["heldout_random_agreement"] + 0.05, (before, after)
    assert {"kd", "hidden", "ss", "loss"} <= set(losses)
    for key, value in teacher.model.state_dict().items():
        torch.testing.assert_close(value, snapshot[key])
    torch.testing.assert_close(trainer.teacher.arch.word_embeddings(trainer.student).weight, frozen)
    assert trainer.teacher.arch.word_embeddings(trainer.student).weight.grad is None
    assert trainer.student.classifier.weight.grad is not None


def test_distill_writes_a_loadable_student(tmp_path, rule_teacher_dir, tiny_labelled_tsv):
    teacher_hash = _sha(rule_teacher_dir / "model.safetensors")
    progress: list[dict] = []
    result = distill(
        rule_teacher_dir, tmp_path / "student", small_config(), eval_file=tiny_labelled_tsv, on_progress=progress.append
    )
    assert _sha(rule_teacher_dir / "model.safetensors") == teacher_hash
    assert result.student_dir == tmp_path / "student" and result.student_layers == [0, 3]
    student = AutoModelForSequenceClassification.from_pretrained(result.student_dir)
    assert student.config.num_hidden_layers == 2 and student.config.id2label == {0: "negative", 1: "positive"}
    logits = student(input_ids=torch.tensor([[2, 5, 6, 7, 3]])).logits
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    assert (result.student_dir / "model.safetensors").is_file() and (result.student_dir / "tokenizer.json").is_file()
    summary = json.loads((result.student_dir / "distill.json").read_text())
    assert summary["seed"] == 0 and summary["versions"]["torch"] == torch.__version__
    assert summary["config"]["steps"] == 12 and summary["metrics"]["steps"] == 12
    for key in (
        "heldout_random_agreement",
        "heldout_pseudo_agreement",
        "eval_accuracy",
        "teacher_eval_accuracy",
        "pool_norm_ratio",
        "pool_nearest_changed",
        "heldout_random_student_balance",
        "train_seconds",
    ):
        assert key in result.metrics, key
    assert {"stage1", "stage2"} <= {p["stage"] for p in progress}
    assert all({"stage", "step", "total"} <= set(p) for p in progress)
    assert not checkpoint_dir(result.student_dir).exists()
    assert result.to_dict()["metrics"] == result.metrics
    with pytest.raises(OutputExistsError, match="--force"):
        distill(rule_teacher_dir, tmp_path / "student", small_config())


def test_resume_after_interruption_gives_the_same_weights(tmp_path, rule_teacher_dir):
    config = small_config(checkpoint_every=3)
    reference = distill(rule_teacher_dir, tmp_path / "reference", config)

    def interrupt_at_step_7(progress: dict) -> None:
        if progress["stage"] == "stage2" and progress["step"] >= 7:
            raise KeyboardInterrupt

    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        distill(
            rule_teacher_dir, interrupted, dataclasses.replace(config, log_every=1), on_progress=interrupt_at_step_7
        )
    assert not interrupted.exists() and checkpoint_dir(interrupted).is_dir()
    assert torch.load(checkpoint_dir(interrupted) / "state.pt", weights_only=True)["step"] == 7
    seen: list[dict] = []
    resumed = distill(rule_teacher_dir, interrupted, config, resume=True, on_progress=seen.append)
    assert resumed.metrics["steps"] == 12
    assert {p["stage"] for p in seen} == {"stage2"} and min(p["step"] for p in seen) > 7  # continued, not restarted
    expected = load_file(reference.student_dir / "model.safetensors")
    actual = load_file(resumed.student_dir / "model.safetensors")
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)
    # A finished output is returned as is, without redoing the work.
    stamp = (interrupted / "model.safetensors").stat().st_mtime_ns
    again = distill(rule_teacher_dir, interrupted, config, resume=True)
    assert again.metrics == resumed.metrics and (interrupted / "model.safetensors").stat().st_mtime_ns == stamp


def test_resume_with_other_options_is_refused(tmp_path, rule_teacher_dir):
    def stop(progress: dict) -> None:
        if progress["stage"] == "stage2":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(rule_teacher_dir, tmp_path / "s", small_config(), on_progress=stop)
    with pytest.raises(ConfigError, match="other options.*lr"):
        distill(rule_teacher_dir, tmp_path / "s", small_config(lr=5e-4), resume=True)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, rule_teacher_dir, monkeypatch):
    import asdfd.compressor.head_losses as trainer_module  # the single-label head's KD loss

    calls = {"n": 0}
    real_kd_loss = trainer_module.kd_loss

    def kd_loss_that_diverges(*args, **kwargs):
        calls["n"] += 1
        loss = real_kd_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 6 else loss

    monkeypatch.setattr(trainer_module, "kd_loss", kd_loss_that_diverges)
    out = tmp_path / "s"
    with pytest.raises(TrainingDivergedError, match=r"nan at step 6.*last good checkpoint \(step 4\)"):
        distill(rule_teacher_dir, out, small_config())
    assert not out.exists()
    state = torch.load(checkpoint_dir(out) / "state.pt", weights_only=True)
    assert state["step"] == 4 and all(torch.isfinite(v).all() for v in state["student"].values())


@pytest.mark.parametrize("fixture", ["tiny_distilbert_dir", "tiny_roberta_dir"])
def test_other_bert_family_plugs(tmp_path, fixture, request):
    folder = request.getfixturevalue(fixture)
    result = distill(folder, tmp_path / "s", small_config(steps=4, student=StudentConfig(num_layers=1)))
    student = AutoModelForSequenceClassification.from_pretrained(result.student_dir)
    assert student.config.model_type == load_teacher(folder).model_type
    assert student(input_ids=torch.tensor([[2, 5, 6, 3]])).logits.shape == (1, 2)


def test_random_token_baseline_and_floor(tmp_path, rule_teacher_dir):
    baseline = distill(rule_teacher_dir, tmp_path / "rt", small_config(method="random-tokens", steps=4))
    assert "pool_size" not in baseline.metrics and baseline.metrics["steps"] == 4
    floor = distill(rule_teacher_dir, tmp_path / "floor", small_config(steps=0))
    assert floor.metrics["steps"] == 0
    teacher = load_teacher(rule_teacher_dir)
    student = AutoModelForSequenceClassification.from_pretrained(floor.student_dir)
    torch.testing.assert_close(student.classifier.weight, teacher.model.classifier.weight)


def _not_a_classifier(folder: Path) -> Path:
    BertModel(
        BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
    ).save_pretrained(folder)
    return folder


def _unsupported(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "architectures": ["GPT2ForSequenceClassification"]})
    )
    (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.mark.parametrize(
    "make_teacher, error, message",
    [
        (lambda p: p / "missing", ModelLoadError, "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", ModelLoadError, "no config.json"),
        (lambda p: _not_a_classifier(p / "encoder"), ModelLoadError, "not a sequence classifier"),
        (lambda p: _unsupported(p / "gpt2"), ModelLoadError, "unsupported architecture 'gpt2'.*bert"),
    ],
)
def test_bad_teacher_folders(tmp_path, make_teacher, error, message):
    with pytest.raises(error, match=message):
        distill(make_teacher(tmp_path), tmp_path / "out", small_config())
    assert not (tmp_path / "out").exists()


def test_bad_options_and_outputs(tmp_path, rule_teacher_dir, tiny_teacher_dir):
    with pytest.raises(ConfigError, match="larger than the teacher"):
        distill(tiny_teacher_dir, tmp_path / "a", small_config(student=StudentConfig(num_layers=3)))
    with pytest.raises(ConfigError, match="as large as the teacher"):
        distill(tiny_teacher_dir, tmp_path / "a", small_config(student=StudentConfig(layers=(0, 1))))
    (tmp_path / "exists").mkdir()
    with pytest.raises(OutputExistsError, match="--force"):
        distill(rule_teacher_dir, tmp_path / "exists", small_config())
    (tmp_path / "file").write_text("")  # missing parent folders are created (asdfd.core._io), a file in the way is not
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        distill(rule_teacher_dir, tmp_path / "file" / "student", small_config())
    bad_labels = tmp_path / "bad.tsv"
    bad_labels.write_text("sentence\tlabel\ngood movie\tmaybe\n")
    with pytest.raises(DataError, match="'maybe'"):
        distill(rule_teacher_dir, tmp_path / "b", small_config(), eval_file=bad_labels)
    with pytest.raises(DataError, match="does not exist"):
        distill(rule_teacher_dir, tmp_path / "b", small_config(), eval_file=tmp_path / "none.tsv")


def test_resume_onto_a_finished_student_checks_teacher_and_options(tmp_path, rule_teacher_dir, tiny_teacher_4layer_dir):
    out = tmp_path / "s"
    distill(rule_teacher_dir, out, small_config(steps=2))
    assert distill(rule_teacher_dir, out, small_config(steps=2), resume=True).metrics["steps"] == 2
    with pytest.raises(ConfigError, match="other options.*lr"):
        distill(rule_teacher_dir, out, small_config(steps=2, lr=5e-4), resume=True)
    with pytest.raises(ConfigError, match="was distilled from .* not "):
        distill(tiny_teacher_4layer_dir, out, small_config(steps=2), resume=True)


def test_history_survives_a_resume(tmp_path, rule_teacher_dir):
    config = small_config(eval_every=2, checkpoint_every=2, log_every=1)

    def stop_at_5(progress: dict) -> None:
        if progress["stage"] == "stage2" and progress["step"] >= 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(rule_teacher_dir, tmp_path / "s", config, on_progress=stop_at_5)
    distill(rule_teacher_dir, tmp_path / "s", config, resume=True)
    history = json.loads((tmp_path / "s" / "distill.json").read_text())["history"]
    assert [entry["step"] for entry in history] == [2, 4, 6, 8, 10, 12]
