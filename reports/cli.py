"""`spibot score report`: score a campaign and write its report (a command of the `score` group
of responses; registered from here because the report reads integrity, which sits above
responses)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core import audit
from core.console import console, fail
from core.db import session_scope
from reports import build_report, render_html, write_pdf, write_xlsx
from reports.history import store_result
from responses import score_app


def report_cmd(
    campaign: Annotated[int, typer.Option("--campaign", help="Campaign id")],
    pdf: Annotated[Path | None, typer.Option(help="Write the PDF report here.")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="Write the .xlsx tables and action-plan matrix here.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    exclude_flagged: Annotated[bool, typer.Option(help="Leave out responses flagged by the integrity checks.")] = False,
) -> None:
    """Score a campaign and print its index; optionally write the PDF/XLSX/HTML report."""
    with session_scope(write=bool(pdf or xlsx or html)) as session:
        try:
            report = build_report(session, campaign, include_flagged=not exclude_flagged)
        except LookupError as exc:
            fail(str(exc))
            return
        s = report.score
        for group, g in s.groups.items():
            shown = f"disembunyikan (< {s.min_cell} responden)" if g.suppressed else f"{g.index}"
            console.print(f"{group:9} n={g.n:5}  {shown}")
        console.print(f"koreksi   {s.correction}")
        console.print(f"indeks    {s.index if s.index is not None else '-'} {s.category or ''}")
        for path, writer in ((pdf, write_pdf), (xlsx, write_xlsx)):
            if path:
                writer(report, path)
                console.print(f"[green]wrote {path}[/green]")
        if html:
            html.write_text(render_html(report), encoding="utf-8")
            console.print(f"[green]wrote {html}[/green]")
        if (pdf or xlsx or html) and s.index is not None:
            store_result(session, report)  # the peers' ranking reads it (reports.history)
        if pdf or xlsx or html:
            audit.record(session, audit.cli_actor(), "responses.report_export",
                         institution_id=s.institution_id, target=f"campaign:{campaign}",
                         details={"pdf": bool(pdf), "xlsx": bool(xlsx), "html": bool(html)})


def register(app: typer.Typer) -> None:  # the command joins the `spibot score` group, not `app`
    score_app.command("report")(report_cmd)
