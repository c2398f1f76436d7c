"""`compress distill` (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.command()
def distill() -> None:
    """Not implemented yet."""
    raise click.ClickException("compress distill is not implemented yet")
