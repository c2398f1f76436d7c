"""Config files (YAML or JSON) applied onto frozen dataclass configs.

A run is described by one mapping whose sections mirror the API's configs (`distill:`, `export:`,
`bench:`), so a file and the Python API use the same names. Unknown keys are errors, not silently
ignored: a typo in a config file must not quietly change nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from asdfd.core.errors import ConfigError

__all__ = [
    "load_config_file",
    "apply_overrides",
    "config_to_dict",
    "merge_options",
    "as_path",
    "check_range",
    "LIMITS",
    "MAX_CONFIG_DEPTH",
]

MAX_CONFIG_DEPTH = 16
"""Deepest nesting a config file may have (the deepest real option is 3 levels down)."""

LIMITS = {
    "batch_size": 4096,
    "length": 8192,
    "steps": 10**9,
    "threads": 1024,
    "texts": 10**7,
    "seed": 2**63 - 1,
}
"""Sane upper bounds of the configs' sizes, checked before anything is allocated: a batch (the full preset uses 64),
a sequence length (beyond any supported model's positions), optimiser steps, CPU threads, texts per measurement or
held-out set, and seeds (torch takes seeds below 2**64, which leaves room for the offsets the loop adds)."""


def check_range(name: str, value: int | float | None, low: int | float, limit: str | int | float) -> None:
    """`value` within [low, high] (None passes; `limit` a key of LIMITS or a number), else one ConfigError."""
    high = LIMITS[limit] if isinstance(limit, str) else limit
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {value}")


def as_path(value: Any, what: str, *, optional: bool = False) -> Path | None:
    """`value` (a `str` or `os.PathLike`) as a `Path`: the one coercion every path argument goes through (None stays
    None when `optional`).

    Raises:
        ConfigError: anything else (bytes, numbers, an empty string), naming `what`.
    """
    if optional and value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, str) and text:
            return Path(text)
    raise ConfigError(f"{what}: expected a path (str or os.PathLike), got {value!r}")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a `.yaml`/`.yml` or `.json` file into a dict; one-line errors for missing, special (FIFO, device),
    malformed, too deeply nested files and for a key given twice."""
    path = as_path(path, "--config")
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    if not path.is_file():
        raise ConfigError(
            f"config file {path} is not a regular file (a folder, FIFO or device): pass a YAML or JSON file"
        )
    if path.stat().st_size > 16 << 20:
        raise ConfigError(f"config file {path} is larger than 16 MiB: is it a config file?")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {err.start}): save it as UTF-8") from None
    data = _parse(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of option names to values, got {type(data).__name__}")
    _check_depth(data, path)
    return data


def _parse(text: str, path: Path) -> Any:
    """JSON for `.json` (clearer errors), else YAML; a key given twice is refused in both."""
    import yaml

    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, object_pairs_hook=_unique_json_keys)
        return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader)
    except RecursionError:
        raise ConfigError(f"cannot parse {path}: nested too deeply (at most {MAX_CONFIG_DEPTH} levels)") from None
    except (ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot parse {path}: {str(err).splitlines()[0]}") from None


def _unique_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} is given twice: keep one")
        seen[key] = value
    return seen


def _check_depth(data: Any, path: Path) -> None:
    """Refuse nesting deeper than MAX_CONFIG_DEPTH (iteratively: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"cannot parse {path}: nested too deeply (at most {MAX_CONFIG_DEPTH} levels)")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _unique_key_loader() -> type:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """A SafeLoader that refuses a mapping key given twice (PyYAML keeps the last one silently)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    continue  # SafeLoader's own error names it
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise yaml.YAMLError(f"key {key!r} is given twice (line {line}): keep one")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


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
        return as_path(value, where)
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
