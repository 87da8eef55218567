"""The `spibot` command: every package registers its own subcommands here."""

from __future__ import annotations

import typer

import bot.cli
import core.cli
import dispatch.cli
import integrity.cli
import monitor.cli
import population.cli
import qr.cli
import reports.cli
import responses.cli
from app import backup, demo, serve

COMMANDS = (core.cli, serve, population.cli, dispatch.cli, bot.cli, qr.cli, responses.cli, reports.cli,
            monitor.cli, integrity.cli, demo, backup)

app = typer.Typer(help="spibot — SPI electronic fieldwork", no_args_is_help=True)
for _module in COMMANDS:
    _module.register(app)
