"""The demo: a kabupaten with ~10 units and a few hundred synthetic people (filled in later)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `spibot demo`."""
