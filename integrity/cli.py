"""Commands of integrity: `spibot purge`, `spibot integrity check|review`."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from core.audit import cli_actor
from core.clock import utcnow
from core.console import console
from core.db import session_scope
from core.models import Campaign
from integrity.purge import PurgeRefused, check_purgeable, purge_campaign
from integrity.service import (
    ReviewError,
    correction_inputs,
    flag_campaign,
    record_review,
    signals_for_campaign,
)

integrity_app = typer.Typer(help="Survey integrity: signals of coaching and anomalies, reviews.",
                            no_args_is_help=True)


def purge(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id (closed or archived, past retention)."),
    force: bool = typer.Option(False, "--force", help="Do not ask for confirmation."),
) -> None:
    """Remove the personal data of a closed campaign's population after RETENTION_DAYS, keeping
    results and scores (integrity.purge)."""
    with session_scope() as session:
        try:
            check_purgeable(session.get(Campaign, campaign), campaign, utcnow())
        except PurgeRefused as exc:
            console.print(f"[red]Refused:[/red] {exc}")
            raise typer.Exit(1) from exc
    if not force and not typer.confirm(
        f"Remove names, phones, emails and message texts of campaign {campaign}? Results are kept."
    ):
        raise typer.Exit(1)
    with session_scope(write=True) as session:
        try:
            result = purge_campaign(session, campaign, cli_actor())
        except PurgeRefused as exc:
            console.print(f"[red]Refused:[/red] {exc}")
            raise typer.Exit(1) from exc
    console.print(f"[green]Campaign {campaign} purged:[/green] {result.people} people, "
                  f"{result.outbox_rows} messages, {result.conversation_rows} conversation lines "
                  f"({result.people_kept} people kept: still in a campaign not yet purged; "
                  f"{result.optouts_kept} opt-outs kept: a request to stop is honoured for good).")
    table = Table("table", "rows purged", title="Purge report (also in the audit log)")
    for name, rows in result.tables.items():
        table.add_row(name, str(rows))
    console.print(table)


@integrity_app.command("check")
def check(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id."),
    flag: bool = typer.Option(False, "--flag", help="Store the flags for review and mark responses."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run the integrity signals on a campaign and show the correction-factor inputs."""
    with session_scope(write=flag) as session:
        try:
            report = signals_for_campaign(session, campaign)
        except LookupError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        new = flag_campaign(session, campaign, cli_actor()) if flag else 0
        inputs = correction_inputs(session, campaign)
    if as_json:
        print(json.dumps({"by_signal": report.by_signal, "flagged": report.flagged,
                          "responses": report.responses, "correction": inputs.as_dict()}))
        return
    console.print(f"{report.flagged} of {report.responses} responses flagged; new reviews: {new}")
    for name, count in report.by_signal.items():
        console.print(f"  {name:18} {count}")
    console.print(f"Correction inputs: {inputs.as_dict()}")


@integrity_app.command("review")
def review(
    response: int = typer.Option(..., "--response", help="Response id."),
    decision: str = typer.Option(..., "--decision", help="kept (a false alarm) or excluded."),
    note: str | None = typer.Option(None, "--note"),
) -> None:
    """Record a reviewer's decision on a flagged response."""
    with session_scope(write=True) as session:
        try:
            n = record_review(session, response, decision, cli_actor(), note)
        except ReviewError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    console.print(f"[green]Recorded '{decision}' on {n} flag(s) of response {response}.[/green]")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `spibot` app."""
    app.command("purge")(purge)
    app.add_typer(integrity_app, name="integrity")
