"""Small helpers shared by the subcommands."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from asdfd.errors import AsdfdError

__all__ = ["user_errors", "parse_int_list"]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn `AsdfdError` into click's one-line `Error: ...` (exit 1); Ctrl-C exits 130 quietly."""
    try:
        yield
    except AsdfdError as err:
        raise click.ClickException(str(err)) from None
    except KeyboardInterrupt:
        click.echo("Interrupted; outputs written so far are complete, re-run to resume.", err=True)
        raise SystemExit(130) from None


def parse_int_list(value: str | None, option: str) -> list[int] | None:
    """'1,8,32' -> [1, 8, 32]; raises a usage error naming the option otherwise."""
    if value is None:
        return None
    try:
        items = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint=option) from None
    if not items or any(item < 0 for item in items):
        raise click.BadParameter(f"expected non-negative integers, got {value!r}", param_hint=option)
    return items
