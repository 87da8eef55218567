"""HTTP routes of the PIC dashboard (`/pic`). Thin: authorise, scope, call pages/services, render.

Every route depends on `require_user`; every route that touches an institution's data calls
`check_scope` (through `_campaign`), exports included.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session, select

from core.audit import record
from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import session_scope
from core.models import Campaign, Institution, Unit
from core.params import RowId
from core.security import client_ip
from core.templating import get_env
from dispatch import enqueue_reminder
from monitor import auth, pages, sending, snapshot
from monitor.auth import CurrentUser, check_scope, require_user
from monitor.models import Role
from monitor.tables import to_csv, to_xlsx
from population import SamplingError, replace_with_reserve

router = APIRouter(prefix="/pic", tags=["dashboard"])
templates = Jinja2Templates(env=get_env())
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
Admin = Annotated[CurrentUser, Depends(require_user(Role.admin))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# The PIC's own pages, in the order of the survey (each served by its routes module); the read-only
# pages of `pages.PAGES` follow them in the tab bar.
JOURNEY = (("data", "Kumpulkan data"), ("loket", "Loket & poster"), ("luncurkan", "Luncurkan"))


def _render(request: Request, name: str, user: CurrentUser | None, **context: Any) -> HTMLResponse:
    context.setdefault("message", None)
    context.setdefault("error", None)
    context.setdefault("live", False)
    context.setdefault("campaign", None)
    context.setdefault("journey", JOURNEY)
    context.setdefault("banners", _banners(user) if user is not None else [])
    return templates.TemplateResponse(
        request, f"monitor/{name}",
        {"user": user, "refresh_seconds": get_settings().monitor_refresh_seconds, **context},
    )


def _banners(user: CurrentUser) -> list[sending.Stop]:
    """What stops sending, shown on every page: held senders and templates for everyone, paused
    campaigns of the user's institution (an admin: of every institution)."""
    with session_scope() as session:
        return sending.stops(session, institution_id=user.institution_id, every_institution=user.is_admin)


def _campaign(session: Session, user: CurrentUser, campaign_id: int) -> tuple[Campaign, Institution]:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise HTTPException(404, "Data tidak ditemukan.")
    check_scope(user, campaign.institution_id)
    inst = session.get(Institution, campaign.institution_id)
    assert inst is not None
    return campaign, inst


def _is_closed(campaign: Campaign) -> bool:
    assert campaign.closes_at
    return campaign.status in ("closed", "purged") or as_utc(campaign.closes_at) <= utcnow()


# --- static (the only script: live refresh; inline scripts are refused by the CSP) -----------------

STATIC = Path(__file__).parent / "static"


@router.get("/static/live.js", include_in_schema=False)
def live_js() -> Response:
    return Response((STATIC / "live.js").read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=3600"})


# --- login / logout -------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/pic") and not target.startswith("//") and "\\" not in target:
        return target
    return "/pic"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/pic") -> HTMLResponse:  # noqa: A002
    data = auth.read_session(request)
    fresh = data is None
    if data is None:
        data = auth.new_session(None)
    response = _render(request, "login.html", None, next=_safe_next(next), csrf=data.csrf)
    if fresh:
        auth.write_session(response, data)
    return response


@router.post("/login", response_model=None)
async def login(
    request: Request,
    login: Annotated[str, Form(max_length=120)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/pic",  # noqa: A002
) -> Response:
    data = auth.read_session(request)
    await auth.check_csrf(request, data)
    ip = client_ip(request.scope)
    try:
        if await auth.login_limited(ip, login):
            raise auth.AuthError("Terlalu banyak percobaan masuk dari jaringan ini. Silakan coba lagi "
                                 "15 menit lagi.", status=429)
        with session_scope(write=True) as session:
            user = auth.authenticate(session, login, password)
            fresh = auth.new_session(user)
    except auth.AuthError as exc:
        if exc.status == 401:
            await auth.login_failed(ip, login)
        assert data is not None
        response: Response = _render(request, "login.html", None, next=_safe_next(next), csrf=data.csrf,
                                     error=str(exc))
        response.status_code = exc.status
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    auth.write_session(response, fresh)
    return response


@router.post("/logout")
async def logout(request: Request, user: Viewer) -> RedirectResponse:
    response = RedirectResponse("/pic/login", status_code=303)
    auth.clear_session(response)
    return response


# --- home: campaigns (PIC) or the national view (admin) -----------------------------------------


@router.get("", response_class=HTMLResponse)
def home(request: Request, user: Viewer) -> HTMLResponse:
    if user.is_admin:
        at = snapshot.ensure_fresh()
        with session_scope() as session:
            data = pages.national(session)
        return _render(request, "national.html", user, data=data, snapshot_at=at, campaign=None)
    with session_scope() as session:
        campaigns = list(session.exec(
            select(Campaign).where(Campaign.institution_id == user.institution_id)
            .order_by(Campaign.opens_at.desc())  # type: ignore[union-attr]
        ))
        inst = session.get(Institution, user.institution_id)
    if len(campaigns) == 1:
        return RedirectResponse(f"/pic/c/{campaigns[0].id}", status_code=303)  # type: ignore[return-value]
    return _render(request, "home.html", user, campaigns=campaigns, institution=inst, campaign=None)


# --- campaign pages -------------------------------------------------------------------------------


@router.get("/c/{campaign_id}", response_class=HTMLResponse)
def overview_page(request: Request, campaign_id: RowId, user: Viewer) -> HTMLResponse:
    return campaign_page(request, campaign_id, "ringkasan", user)


@router.get("/c/{campaign_id}/live.json", response_class=JSONResponse, include_in_schema=True)
def live(campaign_id: RowId, user: Viewer) -> JSONResponse:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        figures = pages.live_figures(session, campaign, inst)
    return JSONResponse({"figures": figures, "at": utcnow().isoformat()},
                        headers={"Cache-Control": "no-store"})


def _flash(params: Mapping[str, str]) -> str | None:
    """The message after a reminder or reserve redirect (query `ok` and its details)."""
    ok = params.get("ok")
    if ok == "pengingat":
        return f"Pengingat dijadwalkan untuk {params.get('n', '0')} responden."
    if ok == "cadangan":
        unit, rank = params.get("u", ""), params.get("r", "?")
        sent = "undangan sudah diantrekan" if params.get("n", "0") != "0" else \
            "undangan dikirim bersama gelombang undangan"
        return f"Cadangan ke-{rank} unit {unit} dipanggil; {sent}."
    if ok == "cadangan-habis":
        return f"Daftar cadangan unit {params.get('u', '')} sudah habis."
    return None


@router.get("/c/{campaign_id}/{page}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: RowId, page: str, user: Viewer, hal: int = 0) -> HTMLResponse:
    if page not in pages.PAGES:
        raise HTTPException(404, "Halaman tidak ditemukan.")
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        title, build = pages.PAGES[page]
        data = pages.bot(session, campaign, inst, max(0, min(hal, 10_000))) if page == "bot" \
            else build(session, campaign, inst)
        panel = sending.panel(session, campaign, inst) if page == "ringkasan" else None
    message = sending.flash(request.query_params) or _flash(request.query_params)
    return _render(request, f"{page}.html", user, campaign=campaign, institution=inst, page=page,
                   title=title, data=data, pages=pages.PAGES, message=message, sending=panel,
                   closed=_is_closed(campaign), live=page in ("ringkasan", "unit"))


@router.get("/c/{campaign_id}/{page}/export/{table}.{fmt}")
def export(campaign_id: RowId, page: str, table: str, fmt: str, user: Viewer) -> Response:
    if page not in pages.PAGES or fmt not in ("csv", "xlsx"):
        raise HTTPException(404, "Ekspor tidak ditemukan.")
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        data = pages.PAGES[page][1](session, campaign, inst)
        found = data.table(table)
        if found is None:
            raise HTTPException(404, "Tabel tidak ditemukan.")
        record(session, user.login, "monitor.export", institution_id=inst.id,
               target=f"campaign:{campaign.id}/{page}/{table}.{fmt}", details={"rows": len(found.rows)})
    body = to_csv(found) if fmt == "csv" else to_xlsx(found)
    filename = f"{inst.code}-{campaign.id}-{table}.{fmt}"
    return Response(body, media_type="text/csv; charset=utf-8" if fmt == "csv" else XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{quote(filename)}"'})


@router.post("/c/{campaign_id}/unit/{unit_id}/pengingat")
def remind_unit(campaign_id: RowId, unit_id: RowId, user: Actor) -> RedirectResponse:
    """Reminders to this unit's non-responders, through the dispatcher's rules."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        unit = session.get(Unit, unit_id)
        if unit is None or unit.institution_id != inst.id:
            raise HTTPException(404, "Unit tidak ditemukan.")
        count = enqueue_reminder(session, campaign.id, unit_id=unit.id, actor=f"pic:{user.login}")  # type: ignore[arg-type]
        record(session, user.login, "monitor.reminder", institution_id=inst.id,
               target=f"campaign:{campaign.id}/unit:{unit.code}", details={"queued": count})
    return RedirectResponse(f"/pic/c/{campaign_id}/unit?ok=pengingat&n={count}", status_code=303)


@router.post("/c/{campaign_id}/sampel/cadangan")
def call_reserve(campaign_id: RowId, user: Actor, unit: Annotated[str, Form()] = "",
                 group: Annotated[str, Form()] = "") -> RedirectResponse:
    """Replace an unreachable respondent: the unit's next reserve, invited if the wave already ran."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)  # another institution's campaign: 404
        if group not in ("internal", "external") or not unit:
            raise HTTPException(400, "Pilih unit dan kelompok (internal/external).")
        if _is_closed(campaign):
            raise HTTPException(409, "Kampanye sudah ditutup.")
        try:
            assignment, invited = replace_with_reserve(session, campaign, unit, group, f"pic:{user.login}")
        except SamplingError as exc:
            raise HTTPException(404, str(exc)) from exc
    query = "ok=cadangan-habis" if assignment is None else f"ok=cadangan&r={assignment.reserve_rank}&n={invited}"
    return RedirectResponse(f"/pic/c/{campaign_id}/sampel?{query}&u={quote(unit)}", status_code=303)


def _include_extra() -> None:
    """Downloads from other packages and user management live in extra_routes (kept apart so each
    module stays small); they are registered before the generic `/c/{id}/{page}` routes match."""
    # Imported here: these modules import this one (_campaign, _render, ...), so a top-level
    # import would be circular.
    from monitor.audit_routes import router as audit
    from monitor.campaign_routes import router as lifecycle  # circular too
    from monitor.counter_routes import router as counters  # circular too
    from monitor.data_routes import router as intake  # circular too
    from monitor.extra_routes import router as extra  # circular too
    from monitor.integrity_routes import router as integrity  # circular too
    from monitor.launch_routes import router as launch  # circular too
    from monitor.sample_routes import router as sample  # circular too
    from monitor.sending_routes import router as sending_actions  # circular too

    modules = (extra, integrity, audit, sending_actions, intake, sample, counters, launch, lifecycle)
    for route in [r for m in modules for r in m.routes]:
        router.routes.insert(0, route)


_include_extra()
