"""The terminal side of every `spibot` command: one Rich console and one way to fail."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear message in red and exit with `code` (2: the user's input was refused)."""
    console.print(f"[red]{message}[/red]", highlight=False)
    raise typer.Exit(code)
