"""Commands of qr: `spibot qr posters`, `spibot qr counter add/list`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import Session, select

from core.audit import cli_actor, record
from core.console import console, fail
from core.db import session_scope
from core.models import Campaign, Institution, Unit
from qr.counters import CounterError, add_counter, overview
from qr.layout import FORMATS
from qr.posters import campaign_specs, render_bundle
from qr.service import current_campaign

qr_app = typer.Typer(help="QR posters and participatory registration.", no_args_is_help=True)


@qr_app.command("posters")
def posters_command(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id (see `spibot campaign list`)."),
    unit: str | None = typer.Option(None, "--unit", help="Only this unit (its code)."),
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("posters"),
    fmt: str = typer.Option("a4", "--format", help="a4, tent (table tent) or sticker."),
) -> None:
    """Render every poster of a campaign into one PDF and a ZIP of PNGs."""
    if fmt not in FORMATS:
        fail(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    with session_scope(write=True) as session:
        found = session.get(Campaign, campaign)
        if found is None:
            fail(f"Campaign {campaign} not found. List campaigns with `spibot campaign list`.")
        assert found is not None
        if unit and not session.exec(
            select(Unit).where(Unit.institution_id == found.institution_id, Unit.code == unit)
        ).first():
            fail(f"Unit {unit!r} not found in campaign {campaign}'s institution.")
        specs = campaign_specs(session, found, unit)
        if not specs:
            fail("No unit serving the public: nothing to print.")
        record(session, cli_actor(), "qr.posters", institution_id=found.institution_id,
               target=f"campaign:{campaign}", details={"unit": unit, "count": len(specs)})
    columns = (TextColumn("Poster"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("posters", total=len(specs))
        bundle = render_bundle(specs, fmt,
                               lambda done, _total: progress.update(task, completed=done))
    out.mkdir(parents=True, exist_ok=True)
    stem = f"poster-spi-{campaign}" + (f"-{unit}" if unit else "") + f"-{fmt}"
    (out / f"{stem}.pdf").write_bytes(bundle.pdf)
    (out / f"{stem}-png.zip").write_bytes(bundle.zip)
    console.print(f"[green]{bundle.count} posters:[/green] {out / (stem + '.pdf')} and "
                  f"{out / (stem + '-png.zip')}")


counter_app = typer.Typer(help="Counters (loket) per unit: each gets its own poster.", no_args_is_help=True)
qr_app.add_typer(counter_app, name="counter")


def _institution(session: Session, code: str) -> Institution:
    found = session.exec(select(Institution).where(Institution.code == code)).first()
    if found is None:
        fail(f"Institution {code!r} not found (its code, as in the population forms).")
    return found


@counter_app.command("add")
def counter_add(
    institution: str = typer.Option(..., "--institution", help="Institution code."),
    unit: str = typer.Option(..., "--unit", help="Unit code."),
    name: str = typer.Option(..., "--name", help='Counter name, e.g. "Loket 1" (at most 60 characters).'),
    visitors: str = typer.Option("0", "--visitors", help="Average visitors a day."),
) -> None:
    """Add a counter to a unit (idempotent: an existing counter is left as it is)."""
    with session_scope(write=True) as session:
        inst = _institution(session, institution)
        found = session.exec(select(Unit).where(Unit.institution_id == inst.id, Unit.code == unit)).first()
        if found is None:
            fail(f"Unit {unit!r} not found in {institution}.")
        try:
            added = add_counter(session, found, name, visitors, actor=cli_actor())
        except CounterError as exc:
            fail(str(exc))
        what = f"{escape(added.counter.name)} ({found.code})"
    console.print(f"[green]Counter added:[/green] {what}" if added.created else f"Counter {what} already exists.")


@counter_app.command("list")
def counter_list(institution: str = typer.Option(..., "--institution", help="Institution code.")) -> None:
    """The counters of every public unit, with the current campaign's registrations and the
    guest-book entries of each."""
    with session_scope() as session:
        inst = _institution(session, institution)
        campaign = current_campaign(session, inst.id)  # type: ignore[arg-type]
        if campaign is None:
            fail(f"{institution} has no campaign yet.")
        units = overview(session, campaign)
    table = Table("unit", "counter", "visitors/day", "registrations", "guest book")
    for item in units:
        for row in item.rows:
            table.add_row(item.unit.code, escape(row.name or "(none)"),
                          "-" if row.daily_visitors is None else str(row.daily_visitors),
                          str(row.registrations), str(row.guestbook))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `spibot` app."""
    app.add_typer(qr_app, name="qr")
