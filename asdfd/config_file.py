"""Config files (YAML or JSON) applied onto frozen dataclass configs.

A run is described by one mapping whose sections mirror the API's configs (`distill:`, `export:`,
`bench:`), so a file and the Python API use the same names. Unknown keys are errors, not silently
ignored: a typo in a config file must not quietly change nothing.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from asdfd.errors import ConfigError

__all__ = ["load_config_file", "apply_overrides", "config_to_dict"]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a `.yaml`/`.yml` or `.json` file into a dict; one-line errors for missing or malformed files."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    import yaml  # JSON is a subset of YAML 1.2 in practice, but json gives clearer errors for .json files

    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot parse {path}: {str(err).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of option names to values, got {type(data).__name__}")
    return data


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert JSON/YAML scalars and lists to the field's declared type where that is unambiguous."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(annotation):
            return None
        for option in typing.get_args(annotation):
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {annotation}")
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, str, bool) and not isinstance(value, annotation):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    if annotation is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    return value


def apply_overrides(config: Any, overrides: dict[str, Any], *, where: str = "") -> Any:
    """Return `config` (a dataclass instance) with `overrides` applied, recursing into nested dataclasses.

    Raises:
        ConfigError: an unknown key (the message lists the valid ones) or a value of the wrong type.
    """
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {overrides!r}")
    fields = {f.name: f for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(type(config))
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        name = key.replace("-", "_")
        path = f"{where}.{name}" if where else name
        if name not in fields:
            raise ConfigError(f"unknown option {path!r}; valid: {', '.join(sorted(fields))}")
        current = getattr(config, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[name] = apply_overrides(current, value, where=path)
        else:
            changes[name] = _coerce(value, hints.get(name, Any), path)
    return dataclasses.replace(config, **changes) if changes else config


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) dataclass config; tuples become lists."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
