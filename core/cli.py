"""Core commands: database migrations and the server."""

from __future__ import annotations

from datetime import date

import typer
from rich.table import Table
from sqlmodel import select

from core.audit import cli_actor, record
from core.console import console, fail
from core.db import session_scope
from core.migrate import upgrade
from core.models import Institution
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


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(institution_app, name="institution")
    app.add_typer(campaign_app, name="campaign")
