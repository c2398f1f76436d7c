"""CLI flags come from the config dataclasses: one source for types, defaults and help; errors name the flag."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from asdfd.cli import main
from asdfd.cli.bench import BENCH_FLAGS
from asdfd.cli.distill import DISTILL_FLAGS
from asdfd.cli.export import EXPORT_FLAGS
from asdfd.cli.options import ConfigFlag, apply_flag_values, config_options, parse_set_values
from asdfd.cli.run import RUN_DISTILL_FLAGS, RUN_EXPORT_FLAGS
from asdfd.cli.teacher import TEACHER_FLAGS
from asdfd.compressor.distill_config import DistillConfig
from asdfd.core.config_docs import field_docs, resolve_field
from asdfd.core.errors import ConfigError
from asdfd.export.export_config import ExportConfig
from asdfd.pipeline.teacher_recipe_config import TeacherRecipeConfig
from asdfd.runtime.bench.bench_config import BenchConfig


def _help_of(command: str) -> str:
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=10_000)
    assert result.exit_code == 0
    return " ".join(result.output.split())


@pytest.mark.parametrize(
    "command, config_cls, flags",
    [
        ("distill", DistillConfig, DISTILL_FLAGS),
        ("export", ExportConfig, EXPORT_FLAGS),
        ("bench", BenchConfig, BENCH_FLAGS),
        ("teacher", TeacherRecipeConfig, TEACHER_FLAGS),
        ("run", DistillConfig, RUN_DISTILL_FLAGS),
        ("run", ExportConfig, RUN_EXPORT_FLAGS),
    ],
)
def test_every_flag_is_explained_by_its_config_field(command, config_cls, flags):
    text = _help_of(command)
    for spec in flags:
        owner, name = resolve_field(config_cls, spec.path)
        assert f"--{spec.flag}" in text
        doc = field_docs(owner).get(name)
        assert doc, f"{owner.__name__}.{name} has no docstring: its --{spec.flag} would have no help"
        assert doc[:40] in text, f"--{spec.flag}: help does not come from {owner.__name__}.{name}"


def test_budget_dependent_defaults_are_shown_from_the_presets():
    text = _help_of("distill")
    fast = DistillConfig.for_budget("fast")
    assert f"--budget fast: {fast.max_seconds:g}" in text and f"--budget fast: {fast.lr:g}" in text


def test_flag_values_are_typed_and_errors_name_the_flag():
    @click.command()
    @config_options(
        DistillConfig,
        [ConfigFlag("lr"), ConfigFlag("student.num_layers"), ConfigFlag("vocab_prior")],
        defaults={"": DistillConfig()},
    )
    def probe(**options):
        click.echo(json.dumps(options))

    result = CliRunner().invoke(probe, ["--lr", "3e-4", "--student-num-layers", "7", "--vocab-prior", "uniform"])
    assert json.loads(result.output) == {"cfg__lr": 3e-4, "cfg__student__num_layers": 7, "cfg__vocab_prior": "uniform"}
    for args in (["--lr", "inf"], ["--lr", "nan"], ["--student-num-layers", "x"], ["--vocab-prior", "zipfian"]):
        bad = CliRunner().invoke(probe, args)
        assert bad.exit_code == 2 and args[0] in bad.output, args
    with pytest.raises(ConfigError, match=r"^--lr: lr must be > 0"):
        apply_flag_values(DistillConfig(), {"lr": ("--lr", -1.0)})


def test_set_reaches_any_field_and_names_itself_in_errors():
    given = parse_set_values(["synthesis.guess.steps=30", "lr=3e-4", "student.layers=[0, 2]"])
    config = apply_flag_values(DistillConfig(method="asdfd"), given)
    assert (config.synthesis.guess.steps, config.lr, config.student.layers) == (30, 3e-4, (0, 2))
    with pytest.raises(ConfigError, match=r"--set synthesis.guess.stepz: unknown option 'synthesis.guess.stepz'"):
        apply_flag_values(DistillConfig(method="asdfd"), parse_set_values(["synthesis.guess.stepz=3"]))
    with pytest.raises(ConfigError, match=r"--set guess.steps: unknown option .guess.steps.: guess moved"):
        apply_flag_values(DistillConfig(method="asdfd"), parse_set_values(["guess.steps=3"]))
    config = apply_flag_values(DistillConfig(), parse_set_values(["method=asdfd", "synthesis.use_stage2=false"]))
    assert config.synthesis.use_stage2 is False  # the method first, then its options
    with pytest.raises(click.BadParameter):
        parse_set_values(["no-equals-sign"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "-1"], "--lr: lr must be > 0"),
        (
            ["--method", "asdfd", "--set", "synthesis.guess.steps=0"],
            "--set synthesis.guess.steps: synthesis.guess: guess.steps must be >= 1",
        ),
        (
            ["--set", "student.depth_fraction=2"],
            "--set student.depth_fraction: student depth_fraction must be in (0, 1)",
        ),
    ],
)
def test_distill_cli_errors_name_the_flag(tmp_path, tiny_teacher_dir, args, message):
    result = CliRunner().invoke(
        main, ["distill", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path / "s"), *args]
    )
    assert result.exit_code == 1 and message in result.output, result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "s").exists()


def test_run_set_sections(tmp_path, tiny_teacher_dir):
    base = ["run", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path / "s.onnx")]
    result = CliRunner().invoke(main, [*base, "--set", "synthesis.guess.steps=3"])
    assert result.exit_code == 1 and "distill.<field>" in result.output
    result = CliRunner().invoke(main, [*base, "--set", "export.opset=9"])
    assert result.exit_code == 1 and "opset" in result.output and "Traceback" not in result.output


def test_minutes_sets_the_time_budget_and_lifts_the_step_cap(tmp_path, tiny_teacher_dir):
    out = tmp_path / "s"
    args = [
        "-q",
        "distill",
        "--teacher",
        str(tiny_teacher_dir),
        "--out",
        str(out),
        "--budget",
        "fast",
        "--minutes",
        "0.005",
        "--set",
        "heldout_random=8",
        "--batch-size",
        "4",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "distill.json").read_text())["config"]
    assert config["max_seconds"] == pytest.approx(0.3) and config["steps"] >= 1_000_000
    bad = CliRunner().invoke(
        main, ["distill", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path / "x"), "--minutes", "-1"]
    )
    assert bad.exit_code == 2 and "--minutes" in bad.output
