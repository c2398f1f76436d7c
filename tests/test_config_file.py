"""Config files: nested overrides, type coercion, and one-line errors for unknown keys and bad files."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from asdfd.core.config_file import apply_overrides, config_to_dict, load_config_file
from asdfd.core.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Inner:
    steps: int = 10
    lr: float = 0.1
    layers: tuple[int, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Outer:
    name: str = "a"
    inner: Inner = field(default_factory=Inner)


def test_apply_overrides_nested_and_coerced():
    config = apply_overrides(Outer(), {"name": "b", "inner": {"steps": 3, "lr": 1, "layers": [0, 2]}})
    assert config == Outer(name="b", inner=Inner(steps=3, lr=1.0, layers=(0, 2)))
    assert isinstance(config.inner.lr, float)
    assert config_to_dict(config) == {"name": "b", "inner": {"steps": 3, "lr": 1.0, "layers": [0, 2]}}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"nme": "x"}, "unknown option 'nme'; valid: inner, name"),
        ({"inner": {"step": 1}}, "unknown option 'inner.step'"),
        ({"inner": {"steps": "many"}}, "inner.steps: expected an integer"),
        ({"inner": {"steps": True}}, "inner.steps: expected an integer"),
    ],
)
def test_apply_overrides_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Outer(), overrides)


def test_load_config_file(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("# comment\ninner:\n  steps: 5\n", encoding="utf-8")
    assert load_config_file(yaml_file) == {"inner": {"steps": 5}}
    json_file = tmp_path / "run.json"
    json_file.write_text('{"name": "x"}', encoding="utf-8")
    assert load_config_file(json_file) == {"name": "x"}
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config_file(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config_file(listy)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("distill: 5\n", "distill: expected a mapping"),
        ("distill: [1, 2]\n", "distill: expected a mapping"),
        ("eval_file: 5\n", "eval_file: expected a path"),
        ("distill: {student: 3}\n", "distill.student: expected a mapping of StudentConfig fields"),
        ("distill: {lr: fast}\n", "distill.lr: expected a number"),
        ("distill: {lr: .inf}\n", "distill.lr: expected a finite number"),
        ("distill: {steps: 2.5}\n", "distill.steps: expected an integer"),
        ("distill: {method: best}\n", "distill.method: expected one of 'random-tokens', 'words', 'mix'"),
        ("distill: {method: asdfd, synthesis: {guess: {steps: 0}}}\n", "guess.steps must be >= 1"),
        ("distill: {guess: {steps: 3}}\n", "unknown option 'distill.guess.steps': guess moved: use synthesis.guess"),
        ("distill: {synthesis: {oversample: 3}}\n", "not an option of --method forms"),
        ("seed: 3\n", "unknown option 'seed': seed moved: use distill.seed"),
    ],
)
def test_run_config_values_get_one_line_naming_the_key(tmp_path, tiny_teacher_dir, text, message):
    from click.testing import CliRunner

    from asdfd.cli import main

    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        main, ["run", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path / "s.onnx"), "--config", str(path)]
    )
    assert result.exit_code == 1 and message in result.output, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "s.run").exists()


def test_numbers_written_the_usual_ways_are_numbers(tmp_path, tiny_teacher_dir):
    from asdfd.pipeline import plan_run

    path = tmp_path / "run.yaml"
    path.write_text("distill: {lr: 3e-4, steps: 1e3, student: {layers: '0,1'}}\n", encoding="utf-8")
    plan = plan_run(tiny_teacher_dir, tmp_path / "s.onnx", file_options=load_config_file(path))
    assert plan.distill.lr == 3e-4 and plan.distill.steps == 1000 and plan.distill.student.layers == (0, 1)


def test_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(b"distill: {lr: 0.1}\n# \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config_file(path)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("\ufeffdistill: {lr: 0.1}\n".encode())
    assert load_config_file(bom) == {"distill": {"lr": 0.1}}
