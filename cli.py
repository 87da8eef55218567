"""The `spibot` command. Every job a user runs is a subcommand; each package registers its own."""

from __future__ import annotations

import importlib

import typer

from core.registry import PACKAGES

app = typer.Typer(help="spibot — SPI electronic fieldwork", no_args_is_help=True)


def _register_all() -> None:
    for name in ["core", *PACKAGES]:
        module = importlib.import_module(f"{name}.cli")
        module.register(app)
    importlib.import_module("core.demo").register(app)


_register_all()

if __name__ == "__main__":
    app()
