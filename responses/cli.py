"""Commands of responses: `spibot score ...` (checks, reports, correction) and `spibot responses import`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core import audit
from core.console import console, fail
from core.db import session_scope
from responses.importer import ImportFailed, import_file
from responses.scoring.institution import set_correction
from responses.scoring.method import MethodError, category, classify, integrity_index

score_app = typer.Typer(help="SPI scoring: check thresholds and the index, build reports.", no_args_is_help=True)
responses_app = typer.Typer(help="Questionnaire responses: import from CAPI/other platforms.", no_args_is_help=True)


@score_app.command("classify")
def classify_cmd(
    group: Annotated[str, typer.Option(help="internal | external | expert")],
    kind: Annotated[str, typer.Option(help="keberadaan | risiko | pencegahan")],
    item: Annotated[str, typer.Option(help="The exact reference description (spi2024_risk_thresholds.csv).")],
    value: Annotated[float, typer.Option(help="Share of respondents, 0..1 (negative side; positive for pencegahan).")],
    year: Annotated[int, typer.Option(help="Threshold year on file.")] = 2024,
) -> None:
    """Print the risk-map level of one item value (a value on a boundary takes the lower level)."""
    try:
        typer.echo(classify(group, kind, item, value, year))
    except MethodError as exc:
        fail(str(exc))


@score_app.command("index")
def index_cmd(
    internal: Annotated[float, typer.Option(help="Internal sub-index 0..100")],
    external: Annotated[float, typer.Option(help="External sub-index 0..100")],
    expert: Annotated[float, typer.Option(help="Expert sub-index 0..100")],
    correction: Annotated[float, typer.Option(help="Correction factor points (subtracted)")] = 0.0,
) -> None:
    """Print the integrity index and its category, e.g. `74.62 Waspada`."""
    try:
        value = integrity_index(internal, external, expert, correction)
    except MethodError as exc:
        fail(str(exc))
        return
    typer.echo(f"{value:.2f} {category(value)}")


@score_app.command("correction")
def correction_cmd(
    campaign: Annotated[int, typer.Option("--campaign", help="Campaign id")],
    part: Annotated[
        list[str] | None, typer.Option(help="name=points, e.g. corruption_prevalence=2.5 (repeatable)")
    ] = None,
    history: Annotated[
        list[str] | None, typer.Option(help="year=index of earlier years, e.g. 2023=68.22 (repeatable)")
    ] = None,
) -> None:
    """Record correction-factor points supplied by the PIC or KPK, and earlier years' indices."""
    def pairs(items: list[str], what: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for text in items:
            key, sep, value = text.partition("=")
            try:
                out[key.strip()] = float(value.replace(",", "."))
            except ValueError:
                sep = ""
            if not sep or not key.strip():
                fail(f"{what} {text!r}: expected name=number")
        return out

    parts, hist = pairs(part or [], "--part"), pairs(history or [], "--history")
    try:
        years = {int(k): v for k, v in hist.items()}
    except ValueError:
        fail("--history: the year must be a number, e.g. 2023=68.22")
        return
    with session_scope(write=True) as session:
        try:
            row = set_correction(session, campaign, parts or None, years or None)
        except ValueError as exc:
            fail(str(exc))
            return
        audit.record(session, audit.cli_actor(), "responses.correction", target=f"campaign:{campaign}",
                     details={"parts": row.parts, "history": row.history})
    console.print(f"correction = {sum(row.parts.values()):.2f} points {row.parts}")


@responses_app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX with a token column")],
) -> None:
    """Import responses collected elsewhere (all rows or none; resending the same rows is harmless)."""
    try:
        result = import_file(path, actor=audit.cli_actor())
    except ImportFailed as exc:
        fail(str(exc))
        return
    console.print(f"[green]{result.stored} stored, {result.duplicates} already received[/green]")
    for note in result.notes():
        console.print(f"[yellow]{note}[/yellow]")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `spibot` app."""
    app.add_typer(score_app, name="score")
    app.add_typer(responses_app, name="responses")
