"""Core commands: database migrations and the server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlmodel import Session, select

from core.audit import cli_actor, record
from core.campaigns import (
    LifecycleError,
    archive_campaign,
    close_campaign,
    get_campaign,
    label,
    list_campaigns,
    purge_due,
    reopen_campaign,
)
from core.clock import format_date_id
from core.console import console, fail
from core.db import session_scope
from core.migrate import upgrade
from core.models import Campaign, Institution
from core.services import CoreError, add_institution, create_campaign, get_institution

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the latest migration."""
    upgrade()
    console.print("[green]Database is up to date.[/green]")


institution_app = typer.Typer(help="Institutions (K/L/PD) taking part.", no_args_is_help=True)
campaign_app = typer.Typer(help="Survey campaigns.", no_args_is_help=True)



@institution_app.command("add")
def institution_add(
    code: str = typer.Argument(..., help="Short code, e.g. KAB-KATINGAN"),
    name: str = typer.Argument(..., help="Full name, e.g. 'Pemerintah Kabupaten Katingan'"),
    timezone: str = typer.Option("WIB", help="WIB, WITA or WIT"),
    kind: str = typer.Option("kabupaten", help="kabupaten, kota, provinsi, kementerian, lembaga"),
) -> None:
    """Add an institution."""
    try:
        with session_scope(write=True) as session:
            inst = add_institution(session, code, name, timezone=timezone, kind=kind)
            record(session, cli_actor(), "institution.add", institution_id=inst.id, target=code)
            console.print(f"Instansi {inst.name} ({inst.code}) dibuat, id {inst.id}.")
    except CoreError as exc:
        fail(str(exc))


@institution_app.command("list")
def institution_list() -> None:
    """List institutions."""
    table = Table("id", "kode", "nama", "zona waktu")
    with session_scope() as session:
        for inst in session.exec(select(Institution).order_by(Institution.code)):
            table.add_row(str(inst.id), inst.code, inst.name, inst.timezone)
    console.print(table)


@campaign_app.command("create")
def campaign_create(
    institution: str = typer.Option(..., help="Institution code"),
    year: int = typer.Option(..., help="Survey year, e.g. 2026"),
    opens: str = typer.Option(..., help="Opening date YYYY-MM-DD (local time)"),
    closes: str = typer.Option(..., help="Closing date YYYY-MM-DD (local time, inclusive)"),
) -> None:
    """Create a campaign for an institution."""
    try:
        opens_d, closes_d = date.fromisoformat(opens), date.fromisoformat(closes)
    except ValueError:
        fail("Tanggal harus berformat YYYY-MM-DD, misalnya 2026-07-01.")
    try:
        with session_scope(write=True) as session:
            inst = get_institution(session, institution)
            campaign = create_campaign(session, inst, year=year, opens=opens_d, closes=closes_d)
            record(session, cli_actor(), "campaign.create", institution_id=inst.id, target=str(campaign.id))
            console.print(f"Kampanye {campaign.name} dibuat, id {campaign.id}.")
    except CoreError as exc:
        fail(str(exc))


@campaign_app.command("list")
def campaign_list(
    institution: str | None = typer.Option(None, help="Only this institution (code)."),
) -> None:
    """List campaigns with their state: open, closed (when, by whom, why), archived, purged."""
    lines: list[str] = []
    try:
        with session_scope() as session:
            inst_id = get_institution(session, institution).id if institution else None
            codes = {i.id: i.code for i in session.exec(select(Institution))}
            for c in list_campaigns(session, inst_id):
                assert c.opens_at is not None and c.closes_at is not None
                line = (f"{c.id}  {codes.get(c.institution_id, '?')}  {c.name}  {label(c.status)}  "
                        f"{format_date_id(c.opens_at)} – {format_date_id(c.closed_at or c.closes_at)}")
                if c.closed_by:
                    line += f"  ditutup oleh {c.closed_by}: {c.closed_reason}"
                if c.status in ("closed", "archived"):
                    line += f"  (data kontak dapat dihapus mulai {format_date_id(purge_due(c))})"
                lines.append(line)
    except CoreError as exc:
        fail(str(exc))
    for line in lines or ["Belum ada kampanye."]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _lifecycle(action: str, campaign: int, run: Callable[[Session, Campaign], Campaign]) -> None:
    """Run one transition in a write session; a refusal is printed (exit 1), never a traceback."""
    try:
        with session_scope(write=True) as session:
            done = run(session, get_campaign(session, campaign))
            console.print(f"Kampanye {done.id} ({done.name}) {action}.", markup=False)
    except LifecycleError as exc:
        fail(str(exc))


@campaign_app.command("close")
def campaign_close(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id."),
    reason: str = typer.Option(..., "--reason", help="Why it closes now (kept in the audit log)."),
) -> None:
    """Close a campaign now: no more answers, registrations or messages."""
    _lifecycle("ditutup", campaign, lambda s, c: close_campaign(s, c, actor=cli_actor(), reason=reason))


@campaign_app.command("reopen")
def campaign_reopen(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id."),
    reason: str = typer.Option(..., "--reason", help="Why it opens again (kept in the audit log)."),
    closes: str | None = typer.Option(None, help="New closing date YYYY-MM-DD (local time, inclusive); "
                                      "needed when the old one has passed."),
) -> None:
    """Open a closed (or archived) campaign again, before its contact data is purged."""
    new_close: datetime | None = None
    with session_scope() as session:
        found = session.get(Campaign, campaign)
        tz = session.get(Institution, found.institution_id).timezone if found else "Asia/Jakarta"  # type: ignore[union-attr]
    if closes is not None:
        try:
            new_close = datetime.combine(date.fromisoformat(closes), time(23, 59, 59), ZoneInfo(tz))
        except ValueError:
            fail("Tanggal harus berformat YYYY-MM-DD, misalnya 2026-07-01.")
    _lifecycle("dibuka kembali", campaign,
               lambda s, c: reopen_campaign(s, c, actor=cli_actor(), reason=reason, closes_at=new_close))


@campaign_app.command("archive")
def campaign_archive(campaign: int = typer.Option(..., "--campaign", help="Campaign id.")) -> None:
    """Archive a closed campaign: the survey is over for good; scores and reports stay."""
    _lifecycle("diarsipkan", campaign, lambda s, c: archive_campaign(s, c, actor=cli_actor()))


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(institution_app, name="institution")
    app.add_typer(campaign_app, name="campaign")
