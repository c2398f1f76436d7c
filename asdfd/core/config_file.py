"""Config files (YAML or JSON) applied onto frozen dataclass configs.

A run is described by one mapping whose sections mirror the API's configs (`distill:`, `export:`,
`bench:`), so a file and the Python API use the same names. Unknown keys are errors, not silently
ignored: a typo in a config file must not quietly change nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

from asdfd.core.errors import ConfigError

__all__ = ["load_config_file", "apply_overrides", "config_to_dict", "merge_options"]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a `.yaml`/`.yml` or `.json` file into a dict; one-line errors for missing or malformed files."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.stat().st_size > 16 << 20:
        raise ConfigError(f"config file {path} is larger than 16 MiB: is it a config file?")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {err.start}): save it as UTF-8") from None
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


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is tuple:
        return f"a list of {_type_name(typing.get_args(annotation)[0])}"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", Path: "a path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a YAML/JSON/command-line value to the field's declared type, or raise a one-line ConfigError.

    Numbers written the usual ways are numbers ("3e-4", which PyYAML reads as a string, included); a
    whole float is an integer where one is expected; "1,8,32" is a list.
    """
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        expected = " or ".join(_type_name(o) if o is not type(None) else "null" for o in options)
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    if origin is typing.Literal:
        if value in typing.get_args(annotation):
            return value
        raise ConfigError(f"{where}: expected {_type_name(annotation)}, got {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected {_type_name(annotation)}, got {value!r}")
        item = typing.get_args(annotation)[0]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation in (int, float):
        number = value
        if isinstance(value, str):
            try:
                number = (
                    float(value.strip())
                    if annotation is float or not value.strip().lstrip("+-").isdigit()
                    else int(value.strip())
                )
            except ValueError:
                raise ConfigError(f"{where}: expected {_type_name(annotation)}, got {value!r}") from None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ConfigError(f"{where}: expected {_type_name(annotation)}, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        if annotation is float:
            return float(number)
        if isinstance(number, float) and not number.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(number)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if annotation is Path:
        if isinstance(value, (str, Path)) and str(value):
            return Path(value)
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    return value


def apply_overrides(config: Any, overrides: dict[str, Any], *, where: str = "") -> Any:
    """Return `config` (a dataclass instance) with `overrides` applied, recursing into nested dataclasses.

    Plain fields are applied before sections, so a section whose type follows a field (`synthesis` follows
    `method`) is read as the type the new value chooses. A key that moved (the class's `moved_options`, old name
    -> new) is reported with its new name.

    Raises:
        ConfigError: an unknown key (the message lists the valid ones), a value of the wrong type, or a value
            the config rejects; each names the key.
    """
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of option names to values, got {overrides!r}")
    fields = {f.name: f for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(type(config))
    plain: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for key, value in overrides.items():
        name = str(key).replace("-", "_")
        path = f"{where}.{name}" if where else name
        if name not in fields:
            raise ConfigError(_unknown(config, name, value, path, sorted(fields)))
        if dataclasses.is_dataclass(getattr(config, name)):
            if not isinstance(value, dict):
                kind = type(getattr(config, name)).__name__
                raise ConfigError(f"{path}: expected a mapping of {kind} fields, got {value!r}")
            sections[name] = value
        else:
            plain[name] = _coerce(value, hints.get(name, Any), path)
    config = _replace(config, plain, where)
    changes = {
        name: apply_overrides(getattr(config, name), value, where=_join(where, name))
        for name, value in sections.items()
    }
    return _replace(config, changes, where)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _replace(config: Any, changes: dict[str, Any], where: str) -> Any:
    if not changes:
        return config
    try:
        return dataclasses.replace(config, **changes)
    except ConfigError as err:
        message = str(err)
        named = where and not message.startswith(where)
        raise ConfigError(f"{where}: {message}" if named else message) from None


def _unknown(config: Any, name: str, value: Any, path: str, valid: list[str]) -> str:
    """The one-line error for an unknown key: where it moved, the method whose options these are, or the valid keys."""
    full = path
    while isinstance(value, dict) and len(value) == 1:  # "guess.stepz", not just "guess"
        key, value = next(iter(value.items()))
        full = f"{full}.{key}"
    moved = getattr(type(config), "moved_options", {})
    if name in moved:
        return f"unknown option {full!r}: {name} moved: use {moved[name]}"
    method = getattr(type(config), "method", None)
    if hasattr(type(config), "synthesizer_class"):  # a synthesis method's options (asdfd.compressor.synthesis)
        options = ", ".join(f"synthesis.{v}" for v in valid) or "none"
        return f"unknown option {full!r}: not an option of --method {method} (its options: {options})"
    return f"unknown option {full!r}; valid: {', '.join(valid)}"


def merge_options(target: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `update` into `target` (in place) and return it: sections merge, other values replace."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_options(target[key], value)
        else:
            target[key] = value
    return target


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) dataclass config; tuples become lists."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
