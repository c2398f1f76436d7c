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
    assert config["method"] == "asdfd" and config["adversarial"]["enabled"] is False
    assert config["self_supervised"]["weight"] == 0.2 and config["vocab_prior"] == "zipf"
    assert config["seed"] == 5 and config["guess"]["pool_size"] == 8 and config["student"]["layers"] == [0, 3]
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
