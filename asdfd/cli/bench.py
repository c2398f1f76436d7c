"""`compress bench` (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.command()
def bench() -> None:
    """Not implemented yet."""
    raise click.ClickException("compress bench is not implemented yet")
