"""The teacher chooses the student's layers (`layer_choice` "auto"): candidates, scores, the choice in a run."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForSequenceClassification

from asdfd.cli import main
from asdfd.compressor import DistillConfig, StudentConfig, build_student, distill, load_teacher
from asdfd.compressor.devices import Placement
from asdfd.compressor.diagnostics import predict_logits
from asdfd.compressor.layer_choice import (
    RULE,
    LayerScore,
    candidate_sets,
    choice_inputs,
    choose_layers,
    choose_student_layers,
    fixed_sets,
    greedy_set,
    ranked,
)
from asdfd.compressor.loop import DistillLoop
from asdfd.core.config_file import apply_overrides
from asdfd.core.errors import ConfigError
from tests.conftest import copy_tokenizer

CPU = Placement(device=torch.device("cpu"), precision="fp32")


def _config(**overrides) -> DistillConfig:
    base = DistillConfig(
        method="words",
        steps=6,
        batch_size=8,
        max_length=16,
        heldout_random=32,
        eval_every=3,
        log_every=3,
        checkpoint_every=3,
        show_progress=False,
        threads=1,
        student=StudentConfig(layer_choice="auto", layer_choice_samples=64, ffn_fraction=0.5),
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="module")
def noop_teacher_dir(tmp_path_factory, rule_teacher_dir) -> Path:
    """The 4-layer rule teacher with layers 1 and 3 made exact no-ops: every layer's output LayerNorm is plain
    (weight 1, bias 0), so its output is already normalised, and layers 1 and 3 write nothing back (zero output
    projections) and renormalise it unchanged. The cut student of layers {0, 2} is the teacher itself."""
    model = AutoModelForSequenceClassification.from_pretrained(rule_teacher_dir)
    with torch.no_grad():
        for index, layer in enumerate(model.bert.encoder.layer):
            norms = [layer.output.LayerNorm] + ([layer.attention.output.LayerNorm] if index % 2 else [])
            for norm in norms:
                norm.weight.fill_(1.0)
                norm.bias.zero_()
            if index % 2:
                for dense in (layer.attention.output.dense, layer.output.dense):
                    dense.weight.zero_()
                    dense.bias.zero_()
    folder = tmp_path_factory.mktemp("noop-teacher")
    model.eval().save_pretrained(folder, safe_serialization=True)
    copy_tokenizer(rule_teacher_dir, folder)
    return folder


def test_candidate_sets_all_or_a_subset():
    sets, exhaustive = candidate_sets(6, 2)
    assert exhaustive and len(sets) == 15 and len(set(sets)) == 15
    assert candidate_sets(6, 3)[1] and len(candidate_sets(6, 3)[0]) == 20
    sets, exhaustive = candidate_sets(12, 4)  # C(12, 4) = 495: a subset
    assert not exhaustive and sets == fixed_sets(12, 4)
    assert (0, 3, 7, 11) in sets  # the spread
    assert (0, 1, 2, 11) in sets and (8, 9, 10, 11) in sets and (2, 5, 8, 11) in sets and (0, 3, 6, 11) in sets
    assert all(len(s) == 4 and list(s) == sorted(set(s)) and s[-1] <= 11 for s in sets)
    assert fixed_sets(6, 2) == [(0, 5), (4, 5), (3, 5), (2, 5), (1, 5)] and fixed_sets(6, 1) == [(5,)]


def test_greedy_forward_selection_follows_the_score():
    target = {2, 7, 9}

    def score(layers):  # agreement grows with the layers of `target` kept, KD falls with the others
        hits = len(target & set(layers))
        return LayerScore(layers, agreement=hits / 3, kd=float(len(layers) - hits), cls_cosine=0.0)

    assert greedy_set(12, 3, score) == (2, 7, 9)


def test_ranking_rule():
    def s(layers, agreement, kd):
        return LayerScore(layers, agreement=agreement, kd=kd, cls_cosine=0.0)

    scores = [s((1, 5), 0.8, 0.1), s((0, 5), 0.8, 0.3), s((2, 5), 0.9, 0.5), s((3, 5), float("nan"), 0.0)]
    assert [x.layers for x in ranked(scores)] == [(2, 5), (1, 5), (0, 5), (3, 5)]  # ties: the lowest KD; NaN last
    assert s((3, 5), float("nan"), 0.0).to_dict()["agreement"] is None


def test_the_set_that_truly_agrees_is_chosen(noop_teacher_dir):
    teacher = load_teacher(noop_teacher_dir)
    config = _config(student=StudentConfig(layer_choice="auto", layer_choice_samples=64))
    inputs = choice_inputs(teacher, config, CPU)
    choice = choose_layers(teacher, config.student, inputs, CPU)
    assert choice.chosen == [0, 2] and choice.spread == [0, 3] and choice.exhaustive and choice.rule == RULE
    assert len(choice.scores) == 6 and choice.scores[0].agreement == 1.0 and choice.scores[0].kd < 1e-6
    assert all(score.kd > 1e-4 for score in choice.scores[1:])
    # Brute force: each score is the cut student's agreement with the teacher, computed the long way.
    for score in choice.scores:
        student, _ = build_student(teacher, config.student, layers=list(score.layers))
        logits = predict_logits(student, inputs.embeds, inputs.attention_mask, CPU)
        agreement = float((logits.argmax(-1) == inputs.teacher_logits.argmax(-1)).float().mean())
        assert math.isclose(score.agreement, agreement, abs_tol=1e-6), score


def test_choice_is_deterministic_and_leaves_the_rng_alone(noop_teacher_dir):
    teacher = load_teacher(noop_teacher_dir)
    config = _config()  # FFN narrowing: cutting a student initialises new modules (torch's global RNG)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = choose_student_layers(teacher, config, CPU)
    assert torch.equal(torch.get_rng_state(), before)
    second = choose_student_layers(teacher, config, CPU)
    assert first.scores == second.scores and first.chosen == second.chosen == [0, 2]
    other_seed = choose_student_layers(teacher, dataclasses.replace(config, seed=1), CPU)
    assert other_seed.chosen == [0, 2] and other_seed.scores != first.scores  # other held-out words


def test_auto_run_equals_the_explicit_run_of_its_layers(tmp_path, noop_teacher_dir):
    """The choice draws nothing from the run's streams: an auto run that chose {0, 2} trains bit for bit as the run
    told {0, 2}; the choice, its rule and every set's scores are in distill.json, and its time in the budget."""
    auto = distill(noop_teacher_dir, tmp_path / "auto", _config())
    explicit_student = StudentConfig(layers=(0, 2), layer_choice_samples=64, ffn_fraction=0.5)
    explicit = distill(noop_teacher_dir, tmp_path / "explicit", _config(student=explicit_student))
    assert auto.student_layers == explicit.student_layers == [0, 2]
    assert (tmp_path / "auto" / "model.safetensors").read_bytes() == (
        tmp_path / "explicit" / "model.safetensors"
    ).read_bytes()
    record = json.loads((tmp_path / "auto" / "distill.json").read_text())
    choice = record["metrics"]["layer_choice"]
    assert choice["chosen"] == [0, 2] and choice["spread"] == [0, 3] and choice["rule"] == RULE
    assert choice["samples"] == 64 and choice["exhaustive"] and len(choice["scores"]) == 6
    assert set(choice["scores"][0]) == {"layers", "agreement", "kd", "cls_cosine"}
    assert record["config"]["student"]["layer_choice"] == "auto" and record["student_layers"] == [0, 2]
    assert "layer_choice" not in explicit.metrics
    assert DistillLoop(load_teacher(noop_teacher_dir), _config(), CPU).train_seconds > 0  # counted in the budget
    assert DistillLoop(load_teacher(noop_teacher_dir), _config(student=explicit_student), CPU).train_seconds == 0


def test_auto_run_resumes_to_the_same_weights(tmp_path, noop_teacher_dir):
    config = _config(checkpoint_every=2)
    reference = distill(noop_teacher_dir, tmp_path / "reference", config)

    def interrupt(progress: dict) -> None:
        if progress["step"] >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(noop_teacher_dir, tmp_path / "run", dataclasses.replace(config, log_every=1), on_progress=interrupt)
    resumed = distill(noop_teacher_dir, tmp_path / "run", config, resume=True)
    assert resumed.student_layers == [0, 2] and resumed.metrics["layer_choice"]["chosen"] == [0, 2]
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == (
        reference.student_dir / "model.safetensors"
    ).read_bytes()


def test_cli_student_layers_auto(tmp_path, noop_teacher_dir):
    out = tmp_path / "student"
    args = ["-q", "distill", "--teacher", str(noop_teacher_dir), "--out", str(out), "--method", "words"]
    args += ["--steps", "2", "--batch-size", "4", "--max-length", "12", "--set", "student.layer_choice_samples=32"]
    result = CliRunner().invoke(main, [*args, "--student-layers", "auto", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "distill.json").read_text())
    assert record["config"]["student"]["layer_choice"] == "auto" and record["metrics"]["layer_choice"]["chosen"]
    assert record["student_layers"] == record["metrics"]["layer_choice"]["chosen"] == [0, 2]
    result = CliRunner().invoke(main, [*args[:5], str(tmp_path / "three"), *args[6:], "--student-layers", "auto:3"])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "three" / "distill.json").read_text())["student_layers"]) == 3


@pytest.mark.parametrize("value", ["auto:x", "auto:0", "auto:1,2", "autox"])
def test_cli_bad_layer_values_are_one_line(tmp_path, value):
    result = CliRunner().invoke(
        main, ["-q", "distill", "--teacher", str(tmp_path), "--out", str(tmp_path / "s"), "--student-layers", value]
    )
    assert result.exit_code == 2 and "--student-layers" in result.output and "Traceback" not in result.output
    assert "Error: " in result.output and result.output.strip().splitlines()[-1].startswith("Error: ")


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: StudentConfig(layers=(0, 5), layer_choice="auto"), "explicit"),
        (lambda: StudentConfig(layer_choice="best"), "layer_choice must be spread or auto"),
        (lambda: StudentConfig(layer_choice_samples=0), "layer_choice_samples"),
    ],
)
def test_bad_student_values(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_config_files_and_set_reach_the_field():
    config = apply_overrides(DistillConfig(), {"student": {"layer_choice": "auto", "num_layers": 3}})
    assert config.student.layer_choice == "auto" and config.student.num_layers == 3
    with pytest.raises(ConfigError, match="layer_choice"):
        apply_overrides(DistillConfig(), {"student": {"layer_choice": "best"}})
