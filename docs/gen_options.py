"""Write docs/options.md from the config dataclasses: one table per section (path, type, default, help).

    .venv/bin/python docs/gen_options.py > docs/options.md

The help texts are the fields' docstrings (read by asdfd.core.config_docs, as `compress --help` reads them), so the
page and the CLI never explain an option twice; tests/test_docs.py fails when the page is stale. Nested config
dataclasses become their own sections (`distill.student`, `export.validation`, ...). A section whose type depends
on the synthesis method gets one table per method the synthesizer registry exposes a config class for.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
import types
import typing
from collections.abc import Iterator
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

try:
    from asdfd.core.config_docs import field_docs
except ImportError:  # the bottom layer moved into asdfd.core
    from asdfd.core.config_docs import field_docs  # type: ignore[no-redef]

HEADER = """\
# Options

Every option of `compress run`, by section of the run config. Generated from the config dataclasses' field
docstrings by `docs/gen_options.py` (do not edit by hand: run
`.venv/bin/python docs/gen_options.py > docs/options.md`; `tests/test_docs.py` fails when this page is stale).

How to set one: in a YAML/JSON run config (`compress run --config FILE`, see `examples/run_config.yaml`) by its
path (`distill: {student: {num_layers: 3}}`); on the command line with `--set distill.student.num_layers=3`; or with
its own flag where the command has one (`compress <command> --help` lists them, with the same help text). The
`compress distill`, `export` and `bench` commands take the fields of their section without the section prefix
(`compress distill --set batch_size=16`). Defaults are the library's; `--budget fast` (the default of
`compress run`) changes some of them, and `compress <command> --help` shows the effective defaults.
"""

_METHOD_CONFIG_ATTRS = ("Config", "config_class", "config_cls", "CONFIG", "config_type")
"""Where a synthesizer plug-in may keep the dataclass of its own options."""


def _load(dotted: str) -> Any:
    """`module:attr` or `module.attr` -> the object; None when it does not exist."""
    module, _, name = dotted.partition(":") if ":" in dotted else dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        pass
    try:
        return importlib.import_module(dotted.replace(":", "."))
    except ImportError:
        return None


def _first(*dotted: str) -> Any:
    """The first of the dotted names that exists (a module or a module attribute), else None."""
    for name in dotted:
        found = _load(name)
        if found is not None:
            return found
    return None


def root_sections() -> list[tuple[str, type | None]]:
    """(section name, config class) of the run config: RunConfig's dataclass fields when it exists, else the three
    configs `compress run` composes today."""
    run_config = _first("asdfd.RunConfig", "asdfd.pipeline.RunConfig", "asdfd.pipeline.run_config.RunConfig")
    if run_config is not None and dataclasses.is_dataclass(run_config):
        hints = typing.get_type_hints(run_config)
        found = [(f.name, _dataclass_of(hints[f.name])) for f in dataclasses.fields(run_config)]
        if any(cls is not None for _, cls in found):
            return [("", run_config)]  # its dataclass fields are its sections
    return [
        ("distill", _first("asdfd.DistillConfig", "asdfd.compressor.DistillConfig")),
        ("export", _first("asdfd.ExportConfig", "asdfd.export.ExportConfig")),
        ("bench", _first("asdfd.runtime.bench.BenchConfig", "asdfd.runtime.BenchConfig")),
    ]


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass a field holds (also through `X | None`), else None."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        classes = [a for a in typing.get_args(tp) if isinstance(a, type) and dataclasses.is_dataclass(a)]
        if len(classes) == 1:
            return classes[0]
    return None


@cache
def method_configs() -> list[tuple[str, type]]:
    """(method name, its options dataclass) for each registered synthesis method, in registration order: from the
    registry's `methods()` and `method_config(name)`, else from config classes the synthesizers carry."""
    try:
        synthesis = importlib.import_module("asdfd.compressor.synthesis")
    except ImportError:
        return []
    registry = _first("asdfd.compressor.synthesis.registry") or synthesis
    for module in (synthesis, registry):
        names, config_of = getattr(module, "methods", None), getattr(module, "method_config", None)
        if callable(names) and callable(config_of):
            return [(name, config_of(name)) for name in names()]
    entries = next((getattr(synthesis, n) for n in ("SYNTHESIZERS", "METHODS") if hasattr(synthesis, n)), {})
    found = []
    for name, entry in dict(entries).items():
        plugin = _load(entry) if isinstance(entry, str) else entry
        config = next((getattr(plugin, a) for a in _METHOD_CONFIG_ATTRS if hasattr(plugin, a)), None)
        if isinstance(config, type) and dataclasses.is_dataclass(config):
            found.append((name, config))
    return found


def docs_of(cls: type) -> dict[str, str]:
    """Field docstrings of `cls` and of the dataclasses it inherits fields from (the subclass's win)."""
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            docs.update(field_docs(base))
    return docs


def format_type(tp: Any) -> str:
    """A field annotation as a reader writes the value: `int`, `"a" | "b"`, `list of int`, `float or null`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [format_type(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin in (tuple, list, frozenset, set):
        inner = [a for a in args if a is not Ellipsis]
        return "list of " + (format_type(inner[0]) if len(set(inner)) == 1 else ", ".join(map(format_type, inner)))
    if origin is dict:
        return "mapping"
    if tp is Path:
        return "path"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return " \\| ".join(f'"{m.value}"' for m in tp)
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def format_value(value: Any) -> str:
    """A default as it would be written in a YAML run config."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (tuple, list, frozenset, set)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if "\\|" not in text else text


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def tables(prefix: str, cls: type, context: str = "") -> Iterator[str]:
    """Markdown: this section's table, then one section per nested dataclass field (depth first). `context` names
    the method a section belongs to ("method `asdfd`"), for the sections of `synthesis`."""
    hints = typing.get_type_hints(cls)
    docs = docs_of(cls)
    rows: list[str] = []
    nested: list[tuple[str, type, str]] = []
    for field in dataclasses.fields(cls):
        path = f"{prefix}.{field.name}" if prefix else field.name
        tp = hints[field.name]
        sub = _dataclass_of(tp)
        default = _default(field)
        if field.name == "synthesis" and method_configs():
            nested.extend((path, config, f"method `{name}`") for name, config in method_configs())
        elif sub is not None and default is not None:
            nested.append((path, sub, context))
        else:
            value = "(required)" if default is dataclasses.MISSING else f"`{format_value(default)}`"
            help_text = docs.get(field.name, "")
            rows.append(f"| `{path}` | {_cell(format_type(tp))} | {_cell(value)} | {_cell(help_text)} |")
    title = f"`{prefix}`" if prefix else "top level"
    if rows or (context and not nested):
        yield f"## {title}" + (f" ({context})" if context else "") + "\n"
        summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        if summary and not summary.startswith(f"{cls.__name__}("):
            yield f"{summary} (`{cls.__name__}`)\n"
    if rows:
        yield "| option | type | default | help |\n|---|---|---|---|"
        yield "\n".join(rows) + "\n"
    elif context and not nested:
        yield "No options of its own.\n"
    for path, sub, sub_context in nested:
        yield from tables(path, sub, sub_context)


def render() -> str:
    parts = [HEADER]
    sections = root_sections()
    keys = _load("asdfd.pipeline.TOP_LEVEL_KEYS")
    if keys and sections and sections[0][0]:  # no RunConfig dataclass: list the run config's top-level keys
        names = ", ".join(f"`{k}`" for k in sorted(keys) if k not in {name for name, _ in sections})
        parts.append(
            f"## top level\n\nKeys of a run config outside the sections (as the flags of `compress run`): {names}.\n"
        )
    for name, cls in sections:
        if cls is not None:
            parts.extend(tables(name, cls))
    return "\n".join(parts).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
