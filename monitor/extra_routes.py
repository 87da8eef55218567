"""Dashboard routes for downloads built by other packages (score report, data-quality workbook,
posters) and the admin's user management. Same rules: `require_user`, then `check_scope`."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlmodel import Session, select

from core.audit import record
from core.clock import as_utc
from core.db import session_scope
from core.models import Campaign, Institution
from core.params import RowId
from monitor.auth import AuthError, CurrentUser, require_user
from monitor.cache import CACHE, Cached, report_version
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import XLSX, _campaign, _is_closed, _render
from monitor.users import add_user, list_users, resolve_institution, set_active, set_password
from population import quality_report
from population import write_xlsx as write_quality_xlsx
from qr import campaign_specs, page_for, pdf_bytes
from reports import build_report, render_html, write_pdf
from reports import write_xlsx as write_score_xlsx

router = APIRouter(prefix="/pic", tags=["dashboard"])
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Admin = Annotated[CurrentUser, Depends(require_user(Role.admin))]
PDF = "application/pdf"
REPORT_WAIT = 0.1  # seconds the page waits for a rebuilt report before showing the previous one


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{quote(filename)}"'})


# --- score report (responses package) -------------------------------------------------------------


def _cached_report(session: Session, campaign: Campaign, institution_id: int, kind: str,
                   wait: float | None = None) -> Cached[Any]:
    """The score report (kind "report"), its HTML ("html") or a download ("pdf", "xlsx") of a
    closed campaign, built once per data version of its inputs (monitor.cache): scoring, the
    integrity signals and the rendering are not redone per request.
    `wait`: see VersionedCache.get (the page; downloads are always exact)."""
    version = report_version(session, campaign.id, institution_id)  # type: ignore[arg-type]

    def report(db: Session) -> Any:
        return build_report(db, campaign.id)  # type: ignore[arg-type]

    def rendered(db: Session) -> Any:
        built = CACHE.get(db, "score.report", campaign.id, version, report).value  # type: ignore[arg-type]
        if kind == "html":
            return render_html(built)
        buf = io.BytesIO()
        (write_pdf if kind == "pdf" else write_score_xlsx)(built, buf)
        return buf.getvalue()

    return CACHE.get(session, f"score.{kind}", campaign.id, version,  # type: ignore[arg-type]
                     report if kind == "report" else rendered, wait=wait)


@router.get("/c/{campaign_id}/skor/laporan", response_class=HTMLResponse)
def score_page(request: Request, campaign_id: RowId, user: Viewer) -> HTMLResponse:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        closed = _is_closed(campaign)
        body, older = None, None
        if closed:
            html = _cached_report(session, campaign, inst.id, "html", wait=REPORT_WAIT)  # type: ignore[arg-type]
            body = Markup(html.value)  # noqa: S704 - our own report HTML, escaped by its renderer
            if not html.fresh:
                older = as_utc(html.computed_at).astimezone(ZoneInfo(inst.timezone)).strftime("%H.%M")
    return _render(request, "skor.html", user, campaign=campaign, institution=inst, page="skor",
                   # `available`: the template's "module not installed" note no longer applies
                   pages=PAGES, closed=closed, available=True, body=body, older=older)


@router.get("/c/{campaign_id}/skor/laporan.{fmt}")
def score_download(campaign_id: RowId, fmt: str, user: Viewer) -> Response:
    if fmt not in ("pdf", "xlsx"):
        raise HTTPException(404, "Format tidak dikenal.")
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        if not _is_closed(campaign):
            raise HTTPException(404, "Laporan skor tersedia setelah survei ditutup.")
        body = _cached_report(session, campaign, inst.id, fmt).value  # type: ignore[arg-type]
        record(session, user.login, "monitor.export", institution_id=inst.id,
               target=f"campaign:{campaign.id}/skor.{fmt}")
    return _download(body, PDF if fmt == "pdf" else XLSX, f"{inst.code}-skor-{campaign.year}.{fmt}")


# --- data quality workbook (population package) ----------------------------------------------------


@router.get("/c/{campaign_id}/kualitas/laporan.xlsx")
def quality_download(campaign_id: RowId, user: Viewer) -> Response:
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        report = quality_report(session, inst.id)  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kualitas.xlsx"
            write_quality_xlsx(report, path)
            body = path.read_bytes()
        record(session, user.login, "monitor.export", institution_id=inst.id,
               target=f"campaign:{campaign.id}/kualitas.xlsx")
    return _download(body, XLSX, f"{inst.code}-kualitas-data.xlsx")


# --- posters (qr package) ----------------------------------------------------------------------------


@router.get("/c/{campaign_id}/qr/poster.pdf")
def posters_download(campaign_id: RowId, user: Viewer) -> Response:
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        specs = campaign_specs(session, campaign, None)
        body = pdf_bytes((page_for(spec, "a4") for spec in specs), title="Poster SPI")
        record(session, user.login, "monitor.export", institution_id=inst.id,
               target=f"campaign:{campaign.id}/poster.pdf")
    return _download(body, PDF, f"{inst.code}-poster-spi.pdf")


# --- users (admin) -------------------------------------------------------------------------------------


def _users_page(request: Request, user: CurrentUser, message: str | None = None,
                error: str | None = None, status: int = 200) -> HTMLResponse:
    with session_scope() as session:
        users = list_users(session)
        institutions = {i.id: i for i in session.exec(select(Institution).order_by(Institution.name))}
    response = _render(request, "pengguna.html", user, users=users, institutions=institutions,
                       message=message, error=error)
    response.status_code = status
    return response


@router.get("/admin/pengguna", response_class=HTMLResponse)
def users_page(request: Request, user: Admin, ok: str | None = None) -> HTMLResponse:
    return _users_page(request, user, "Perubahan tersimpan." if ok else None)


@router.post("/admin/pengguna", response_model=None)
def users_add(
    request: Request, user: Admin,
    login: Annotated[str, Form(max_length=120)], password: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=16)], institution: Annotated[str, Form(max_length=60)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        with session_scope(write=True) as session:
            inst_id = resolve_institution(session, institution) if role != Role.admin else None
            add_user(session, login=login, password=password, role=role, institution_id=inst_id,
                     name=name, actor=user.login)
    except AuthError as exc:
        return _users_page(request, user, error=str(exc), status=422)
    return RedirectResponse("/pic/admin/pengguna?ok=1", status_code=303)


@router.post("/admin/pengguna/{login}/sandi", response_model=None)
def users_password(request: Request, login: str, user: Admin,
                   password: Annotated[str, Form(max_length=200)]) -> Response:
    try:
        with session_scope(write=True) as session:
            set_password(session, login, password, actor=user.login)
    except AuthError as exc:
        return _users_page(request, user, error=str(exc), status=422)
    return RedirectResponse("/pic/admin/pengguna?ok=1", status_code=303)


@router.post("/admin/pengguna/{login}/status", response_model=None)
def users_active(request: Request, login: str, user: Admin,
                 active: Annotated[str, Form(max_length=5)] = "0") -> Response:
    if login == user.login:
        return _users_page(request, user, error="Anda tidak dapat menonaktifkan akun sendiri.", status=422)
    try:
        with session_scope(write=True) as session:
            set_active(session, login, active == "1", actor=user.login)
    except AuthError as exc:
        return _users_page(request, user, error=str(exc), status=422)
    return RedirectResponse("/pic/admin/pengguna?ok=1", status_code=303)
