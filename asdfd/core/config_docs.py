"""Field docstrings of config dataclasses: the one place an option is explained.

A config field is documented by the string literal right below it (PEP 257's attribute docstrings, as
litgpt and jsonargparse read them); Python drops those at run time, so they are read from the source.
The CLI builds its `--help` from them, so a flag and its config field never explain themselves twice.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import typing
from functools import cache
from typing import Any

__all__ = ["field_docs", "field_type", "resolve_field"]


@cache
def field_docs(cls: type) -> dict[str, str]:
    """{field name: its docstring, whitespace folded} for a dataclass (fields without one are left out)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (frozen app): help texts only lose their words
        return {}
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(following.value.value).split())
    return docs


def field_type(cls: type, name: str) -> Any:
    """The resolved annotation of field `name` of dataclass `cls`."""
    return typing.get_type_hints(cls)[name]


def resolve_field(cls: type, path: str) -> tuple[type, str]:
    """(the dataclass that owns the last part, its field name) for a dotted path such as "guess.steps".

    Raises:
        KeyError: a part that is not a field.
    """
    *parents, name = path.split(".")
    owner = cls
    for part in parents:
        fields = {f.name: f for f in dataclasses.fields(owner)}
        if part not in fields:
            raise KeyError(path)
        owner = field_type(owner, part)
    if name not in {f.name for f in dataclasses.fields(owner)}:
        raise KeyError(path)
    return owner, name
