"""Config files: nested overrides, type coercion, and one-line errors for unknown keys and bad files."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from asdfd.config_file import apply_overrides, config_to_dict, load_config_file
from asdfd.errors import ConfigError


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
    [({"nme": "x"}, "unknown option 'nme'; valid: inner, name"),
     ({"inner": {"step": 1}}, "unknown option 'inner.step'"),
     ({"inner": {"steps": "many"}}, "inner.steps: expected int"),
     ({"inner": {"steps": True}}, "inner.steps: expected int")],
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
