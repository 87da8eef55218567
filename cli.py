"""The `spibot` command (composed in app/cli.py: each package registers its own subcommands)."""

from __future__ import annotations

from app.cli import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
