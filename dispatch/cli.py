"""Commands of dispatch: worker, templates, send invitations, remind."""

from __future__ import annotations

import json

import typer
from rich.console import Console

console = Console()
send_app = typer.Typer(help="Enqueue messages to respondents.", no_args_is_help=True)


def worker(once: bool = typer.Option(False, "--once", help="Stop when nothing is left to send.")) -> None:
    """Run a dispatch worker (any number against PostgreSQL; one on SQLite)."""
    from core.config import get_settings
    from core.masking import configure_logging
    from dispatch.worker import run_forever

    configure_logging(get_settings().log_level)
    stats = run_forever(once=once)
    console.print(f"worker finished: {stats}")


def templates(
    create: bool = typer.Option(False, "--create", help="Create them through Twilio's Content API."),
) -> None:
    """Print the WhatsApp Content API definitions (twilio/call-to-action, Bahasa Indonesia)."""
    from dispatch.content import content_definitions

    definitions = content_definitions()
    if not create:
        console.print_json(json.dumps(definitions, ensure_ascii=False))
        return
    from dispatch.channels.twilio.content_api import create_templates

    for name, sid in create_templates(definitions):
        console.print(f"[green]created[/green] {name}: {sid}  (set TWILIO_CONTENT_SID_... in .env)")


@send_app.command("invitations")
def send_invitations(campaign: int = typer.Option(..., "--campaign", help="Campaign id.")) -> None:
    """Enqueue the first wave (invitations) of a campaign; idempotent."""
    from core.audit import cli_actor
    from core.db import session_scope
    from dispatch.service import enqueue_invitations

    try:
        with session_scope(write=True) as session:
            n = enqueue_invitations(session, campaign, actor=cli_actor())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{n} invitations enqueued for campaign {campaign}.")


def remind(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id."),
    unit: int | None = typer.Option(None, "--unit", help="Only this unit's non-responders."),
) -> None:
    """Enqueue a reminder to non-responders (min gap and max count apply)."""
    from core.audit import cli_actor
    from core.db import session_scope
    from dispatch.service import enqueue_reminder

    try:
        with session_scope(write=True) as session:
            n = enqueue_reminder(session, campaign, unit_id=unit, actor=cli_actor())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{n} reminders enqueued for campaign {campaign}" + (f", unit {unit}." if unit else "."))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `spibot` app."""
    app.command("worker")(worker)
    app.command("templates")(templates)
    app.command("remind")(remind)
    app.add_typer(send_app, name="send")
