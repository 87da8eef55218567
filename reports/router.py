"""The score report as pages and downloads. NOT mounted by the app on its own: the monitor
includes it behind its login, e.g. `app.include_router(report_router, dependencies=[Depends(require_user())])`."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from core.db import get_session
from core.models import Campaign
from core.params import RowId
from core.templating import render as render_template
from integrity import correction_inputs
from reports import build_report, render_html, simulate, write_pdf, write_xlsx

DbSession = Annotated[Session, Depends(get_session)]
report_router = APIRouter()


@report_router.get("/laporan/{campaign_id}", response_class=HTMLResponse, tags=["reports"])
def report_page(campaign_id: RowId, session: DbSession, exclude_flagged: bool = False) -> Response:
    try:
        report = build_report(session, campaign_id, include_flagged=not exclude_flagged)
    except LookupError:
        return HTMLResponse("Laporan tidak ditemukan.", status_code=404)
    return HTMLResponse(render_html(report))


@report_router.get("/laporan/{campaign_id}/unduh.{fmt}", tags=["reports"])
def report_download(campaign_id: RowId, fmt: str, session: DbSession, exclude_flagged: bool = False) -> Response:
    writers = {"pdf": (write_pdf, "application/pdf"),
               "xlsx": (write_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    if fmt not in writers:
        return HTMLResponse("Format tidak dikenal: gunakan .pdf atau .xlsx.", status_code=404)
    try:
        report = build_report(session, campaign_id, include_flagged=not exclude_flagged)
    except LookupError:
        return HTMLResponse("Laporan tidak ditemukan.", status_code=404)
    buf = io.BytesIO()
    writer, media = writers[fmt]
    writer(report, buf)
    name = f"laporan-spi-{report.year}-{campaign_id}.{fmt}"
    return Response(buf.getvalue(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@report_router.get("/laporan/{campaign_id}/simulasi", response_class=HTMLResponse, tags=["reports"])
def correction_simulator(campaign_id: RowId, session: DbSession) -> Response:
    """Before the close: how many index points data quality and coaching currently put at risk."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return HTMLResponse("Survei tidak ditemukan.", status_code=404)
    sim = simulate(correction_inputs(session, campaign_id))
    return HTMLResponse(render_template("reports/simulasi.html", campaign=campaign.name, open=campaign.is_open(),
                                        sim=sim))
