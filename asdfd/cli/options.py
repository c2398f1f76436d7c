"""Command-line flags derived from the config dataclasses: one source for every option's type, default and help.

A command lists the config fields it offers as flags (`ConfigFlag("guess.steps")` -> `--guess-steps`);
the flag's type comes from the field's annotation, its help from the field's docstring, its default from
the config instances the command starts from. Every other field is reachable with `--set path=value`.
Both are applied with `asdfd.core.config_file.apply_overrides`, the mechanism config files and `compress run`
use, and an invalid value is reported under the flag the user typed.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from asdfd.core.config_docs import field_docs, field_type, resolve_field
from asdfd.core.config_file import apply_overrides
from asdfd.core.errors import ConfigError

__all__ = [
    "ConfigFlag",
    "config_options",
    "take_flag_values",
    "apply_flag_values",
    "set_option",
    "parse_set_values",
    "nested",
]

_PREFIX = "cfg__"
"""Keyword names of generated options: cfg__guess__steps for guess.steps."""


@dataclass(frozen=True)
class ConfigFlag:
    """One config field offered as a flag."""

    path: str
    """Dotted field path in the command's config, e.g. "guess.steps"."""
    name: str | None = None
    """Flag name without dashes; default: the path with "." and "_" as "-" ("guess-steps")."""

    @property
    def flag(self) -> str:
        return self.name or self.path.replace(".", "-").replace("_", "-")

    @property
    def dest(self) -> str:
        return _PREFIX + self.path.replace(".", "__")


class _FiniteFloat(click.ParamType):
    name = "float"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class _CommaList(click.ParamType):
    """ "1,8,32" -> (1, 8, 32); "" -> ()."""

    def __init__(self, item: type) -> None:
        self.item = item
        self.name = f"{item.__name__},..."

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple:
        if isinstance(value, tuple):
            return value
        try:
            return tuple(self.item(part.strip()) for part in str(value).split(",") if part.strip())
        except ValueError:
            self.fail(f"expected comma-separated {self.item.__name__} values, got {value!r}", param, ctx)


def _click_type(annotation: Any) -> Any:
    """The click type for a field annotation; "bool" for an on/off flag pair."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _click_type(options[0]) if len(options) == 1 else click.STRING
    if origin is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(annotation)])
    if origin is tuple:
        return _CommaList(typing.get_args(annotation)[0])
    return {
        bool: "bool",
        int: click.INT,
        float: _FiniteFloat(),
        str: click.STRING,
        Path: click.Path(path_type=Path),
    }.get(annotation, click.STRING)


def _value_at(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part)
    return config


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "''"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _default_text(path: str, defaults: dict[str, Any]) -> str:
    """ "[default: X]", or "[default: X; --budget fast: Y]" where the starting configs differ."""
    values = [(label, _shown(_value_at(config, path))) for label, config in defaults.items()]
    first = values[0][1]
    if all(value == first for _, value in values):
        return f"[default: {first}]"
    return "[default: " + "; ".join(f"{label}: {value}" if label else value for label, value in values) + "]"


def config_options(
    config_cls: type, flags: Iterable[ConfigFlag], *, defaults: dict[str, Any], note: str = ""
) -> Callable[[Callable], Callable]:
    """A decorator adding one click option per flag, typed, explained and defaulted from `config_cls`.

    Args:
        defaults: label -> config instance the command may start from ("" for the plain default, e.g.
            "--budget fast" for a preset): the help shows each value where they differ. Every option's
            click default is None, meaning "keep the starting config's value".
        note: words added to each flag's help (e.g. "--method asdfd only.").
    """
    flags = list(flags)

    def decorate(command: Callable) -> Callable:
        for spec in reversed(flags):
            owner, name = resolve_field(config_cls, spec.path)
            kind = _click_type(field_type(owner, name))
            words = field_docs(owner).get(name, "")
            words = f"{note} {words}".strip()
            help_text = f"{words}  {_default_text(spec.path, defaults)}".strip()
            if kind == "bool":
                decl = f"--{spec.flag}/--no-{spec.flag}"
                command = click.option(decl, spec.dest, default=None, help=help_text)(command)
            else:
                command = click.option(f"--{spec.flag}", spec.dest, type=kind, default=None, help=help_text)(command)
        return command

    return decorate


def take_flag_values(kwargs: dict[str, Any], flags: Iterable[ConfigFlag]) -> dict[str, tuple[str, Any]]:
    """Remove the generated options from a command's kwargs: {path: (flag as typed, value)} of those given."""
    given = {}
    for spec in flags:
        value = kwargs.pop(spec.dest, None)
        if value is not None:
            given[spec.path] = (f"--no-{spec.flag}" if value is False else f"--{spec.flag}", value)
    return given


def nested(path: str, value: Any) -> dict[str, Any]:
    """ "guess.steps", 3 -> {"guess": {"steps": 3}} (the config-file schema)."""
    for part in reversed(path.split(".")):
        value = {part: value}
    return value


def apply_flag_values(config: Any, given: dict[str, tuple[str, Any]]) -> Any:
    """Apply flag values one at a time, so an invalid one is reported under its flag.

    Raises:
        ConfigError: "--flag: what is wrong".
    """
    for path, (flag, value) in given.items():
        try:
            config = apply_overrides(config, nested(path, value))
        except ConfigError as err:
            raise ConfigError(f"{flag}: {err}") from None
    return config


def set_option(example: str) -> Callable[[Callable], Callable]:
    """The generic `--set KEY=VALUE` option (repeatable) for config fields without a flag of their own."""
    return click.option(
        "--set",
        "set_values",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"Set any config field by its dotted path (repeatable), e.g. --set {example}; values are "
        "YAML scalars or lists. The field names are those of the config file.",
    )


def parse_set_values(values: Iterable[str]) -> dict[str, tuple[str, Any]]:
    """["guess.steps=30", "lr=3e-4"] -> {path: ("--set guess.steps", value)}; values parsed as YAML.

    Raises:
        click.BadParameter: an item without "=".
    """
    import yaml

    given: dict[str, tuple[str, Any]] = {}
    for item in values:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        given[key.strip().replace("-", "_")] = (f"--set {key.strip()}", value)
    return given
