"""Commands of qr: `spibot qr posters`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import select

from core.audit import cli_actor, record
from core.console import console, fail
from core.db import session_scope
from core.models import Campaign, Unit
from qr.layout import FORMATS
from qr.posters import campaign_specs, render_bundle

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


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `spibot` app."""
    app.add_typer(qr_app, name="qr")
