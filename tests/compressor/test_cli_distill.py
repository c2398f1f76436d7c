"""`compress distill` only parses and calls the API: options reach the config, errors are one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from asdfd.cli import main


def _run(*args: str):
    return CliRunner().invoke(main, ["-q", "distill", *args])


def test_cli_distills_with_options(tmp_path, rule_teacher_dir, tiny_labelled_tsv):
    out = tmp_path / "student"
    result = _run(
        "--teacher",
        str(rule_teacher_dir),
        "--out",
        str(out),
        "--student-layers",
        "0,3",
        "--student-ffn",
        "20",
        "--student-heads",
        "1",
        "--vocab-prior",
        "zipf",
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--guess-steps",
        "2",
        "--pool-size",
        "8",
        "--max-length",
        "12",
        "--method",
        "asdfd",
        "--no-adversarial",
        "--ss-weight",
        "0.2",
        "--seed",
        "5",
        "--device",
        "cpu",
        "--eval-file",
        str(tiny_labelled_tsv),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["student_layers"] == [0, 3] and report["metrics"]["steps"] == 3
    config = json.loads((out / "distill.json").read_text())["config"]
    synthesis = config["synthesis"]
    assert config["method"] == "asdfd" and synthesis["adversarial"]["enabled"] is False
    assert synthesis["self_supervised"]["weight"] == 0.2 and config["vocab_prior"] == "zipf"
    assert config["seed"] == 5 and synthesis["guess"]["pool_size"] == 8 and config["student"]["layers"] == [0, 3]
    assert synthesis["guess"]["steps"] == 2
    saved = json.loads((out / "config.json").read_text())
    assert config["student"]["ffn_size"] == 20 and saved["intermediate_size"] == 20
    assert config["student"]["num_heads"] == 1 and set(saved["pruned_heads"]) == {"0", "1"}  # one of 2 heads per layer
    again = _run("--teacher", str(rule_teacher_dir), "--out", str(out), "--steps", "1")
    assert again.exit_code == 1 and "already exists: pass --force" in again.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--student-layers", "9"], "larger than the teacher"),
        (["--student-layers", "3,1"], "increasing"),
        (["--student-ffn", "37"], "the teacher's FFN has 37 neurons per layer, so keep 1 to 36"),
        (["--student-heads", "2"], "the teacher has 2 attention heads per layer, so keep 1 of them"),
        (["--method", "random-tokens", "--min-length", "30", "--max-length", "10"], "min_length"),
    ],
)
def test_cli_one_line_errors(tmp_path, rule_teacher_dir, args, message):
    result = _run("--teacher", str(rule_teacher_dir), "--out", str(tmp_path / "s"), "--steps", "1", *args)
    assert result.exit_code == 1 and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_cli_missing_teacher_and_usage_errors(tmp_path):
    result = _run("--teacher", str(tmp_path / "nope"), "--out", str(tmp_path / "s"))
    assert result.exit_code == 1 and "does not exist" in result.output
    assert _run("--teacher", str(tmp_path), "--out", str(tmp_path / "s"), "--student-layers", "x").exit_code == 2
    assert _run("--teacher", str(tmp_path), "--out", str(tmp_path / "s"), "--device", "tpu").exit_code == 2


@pytest.mark.parametrize(
    "value, budget, width", [("0.6", [], 22), ("all", ["--budget", "fast"], 37), ("8", ["--budget", "fast"], 8)]
)
def test_cli_student_ffn_count_share_or_all(tmp_path, rule_teacher_dir, value, budget, width):
    out = tmp_path / "student"
    result = _run(
        "--teacher",
        str(rule_teacher_dir),
        "--out",
        str(out),
        "--steps",
        "1",
        "--batch-size",
        "4",
        "--max-length",
        "12",
        "--student-ffn",
        value,
        *budget,
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["intermediate_size"] == width


def test_cli_fast_budget_student_is_narrower(tmp_path, rule_teacher_dir):
    out = tmp_path / "student"
    result = _run(
        "--teacher",
        str(rule_teacher_dir),
        "--out",
        str(out),
        "--budget",
        "fast",
        "--steps",
        "1",
        "--batch-size",
        "4",
        "--max-length",
        "12",
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "config.json").read_text())
    assert saved["intermediate_size"] == 25 and saved["num_hidden_layers"] == 1  # round(37 * 2/3), a third of 4
    assert _run("--teacher", str(rule_teacher_dir), "--out", str(out), "--student-ffn", "1.5").exit_code == 2
    assert _run("--teacher", str(rule_teacher_dir), "--out", str(out), "--student-heads", "many").exit_code == 2


@pytest.mark.parametrize(
    "args, code, message",
    [
        # AS-DFD's flags keep their names, with --method asdfd only: a usage error naming it.
        (["--guess-steps", "3"], 2, "--guess-steps is an option of --method asdfd"),
        (["--method", "words", "--no-stage2"], 2, "--no-stage2 is an option of --method asdfd"),
        (["--method", "mix", "--random-token-fraction", "0.3"], 2, "add --method asdfd"),
        # A field the chosen method lacks: one line naming the method and its options.
        (
            ["--method", "words", "--set", "synthesis.oversample=3"],
            1,
            "unknown option 'synthesis.oversample': not an option of --method words (its options: "
            "synthesis.word_pieces)",
        ),
        (["--method", "random-tokens", "--set", "synthesis.word_pieces=0.2"], 1, "(its options: none)"),
        # Old keys of AS-DFD's options name their new place.
        (["--method", "asdfd", "--set", "guess.steps=3"], 1, "guess moved: use synthesis.guess (with --method asdfd)"),
        (["--set", "heldout_pseudo=4"], 1, "heldout_pseudo moved: use synthesis.heldout_pseudo"),
        (["--method", "asdfd", "--set", "synthesis.guess.steps=0"], 1, "guess.steps must be >= 1"),
    ],
)
def test_cli_method_options_belong_to_their_method(tmp_path, rule_teacher_dir, args, code, message):
    result = _run("--teacher", str(rule_teacher_dir), "--out", str(tmp_path / "s"), "--steps", "1", *args)
    assert result.exit_code == code and message in result.output, result.output
    assert "Traceback" not in result.output
    if code == 1:
        assert result.output.count("\n") == 1


def test_cli_method_options_reach_the_method(tmp_path, rule_teacher_dir):
    out = tmp_path / "student"
    common = ["--steps", "1", "--batch-size", "4", "--max-length", "12", "--student-layers", "1"]
    result = _run(
        "--teacher",
        str(rule_teacher_dir),
        "--out",
        str(out),
        *common,
        "--method",
        "hotflip",
        "--set",
        "synthesis.flip_every=2",
        "--set",
        "synthesis.word_pieces=0.2",
    )
    assert result.exit_code == 0, result.output
    synthesis = json.loads((out / "distill.json").read_text())["config"]["synthesis"]
    assert synthesis == {
        "word_pieces": 0.2,
        "oversample": 2,
        "uncertain_fraction": 0.5,
        "flip_every": 2,
        "flip_positions": 2,
    }


def test_budget_presets_follow_the_method():
    """`--budget full --method asdfd` starts from AS-DFD's full preset (a bigger pool)."""
    from asdfd.compressor.asdfd_method.synthesizer import AsdfdConfig
    from asdfd.compressor.distill_config import DistillConfig

    full = DistillConfig.for_budget("full", method="asdfd")
    assert full.synthesis == AsdfdConfig.for_budget("full") and full.synthesis.guess.pool_size == 8192
    assert DistillConfig.for_budget("full").synthesis == DistillConfig().synthesis  # mix has no budget options
