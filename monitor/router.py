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
from core.campaigns import LifecycleError, has_ended
from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope
from core.models import Campaign, Institution, Unit
from core.params import RowId
from core.security import client_ip
from core.templating import get_env
from dispatch import enqueue_reminder
from monitor import auth, pages, sending, snapshot, totp
from monitor.auth import CurrentUser, check_scope, require_user
from monitor.models import Role, User
from monitor.tables import to_csv, to_xlsx

router = APIRouter(prefix="/pic", tags=["dashboard"])
templates = Jinja2Templates(env=get_env())
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
Admin = Annotated[CurrentUser, Depends(require_user(Role.admin))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# The PIC's own pages, in the order of the survey (each served by its routes module); the read-only
# pages of `pages.PAGES` follow them in the tab bar.
JOURNEY = (("data", "Kumpulkan data"), ("loket", "Loket & poster"), ("luncurkan", "Luncurkan"),
           ("kasus", "Kasus responden"), ("rencana-aksi", "Rencana aksi"))


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
    return has_ended(campaign)


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
            fresh = (auth.pending_session(user) if user.totp_enabled_at is not None
                     else auth.start_session(session, user, ip))
    except auth.AuthError as exc:
        if exc.status == 401:
            await auth.login_failed(ip, login)
        assert data is not None
        response: Response = _render(request, "login.html", None, next=_safe_next(next), csrf=data.csrf,
                                     error=str(exc))
        response.status_code = exc.status
        return response
    target = _safe_next(next)
    if fresh.pending is not None:  # the right password; now the code of the second factor
        target = f"/pic/login/kode?next={quote(target)}"
    response = RedirectResponse(target, status_code=303)
    auth.write_session(response, fresh)
    return response


@router.get("/login/kode", response_class=HTMLResponse)
def login_code_form(request: Request, next: str = "/pic") -> Response:  # noqa: A002
    data = auth.read_session(request)
    if data is None or auth.pending_user_id(data) is None:
        return RedirectResponse(f"/pic/login?next={quote(_safe_next(next))}", status_code=303)
    return _render(request, "login_code.html", None, next=_safe_next(next), csrf=data.csrf)


@router.post("/login/kode", response_model=None)
async def login_code(
    request: Request,
    code: Annotated[str, Form(max_length=12)] = "",
    next: Annotated[str, Form(max_length=500)] = "/pic",  # noqa: A002
) -> Response:
    """The TOTP code after the right password: limited like passwords (per IP and IP + login)."""
    data = auth.read_session(request)
    await auth.check_csrf(request, data)
    user_id = auth.pending_user_id(data)
    if user_id is None:  # no password given, or too long ago
        return RedirectResponse(f"/pic/login?next={quote(_safe_next(next))}", status_code=303)
    assert data is not None
    ip = client_ip(request.scope)
    with session_scope() as session:
        found = session.get(User, user_id)
        name = found.login if found is not None else ""
    error, status = "Kode verifikasi salah atau sudah dipakai.", 401
    if await auth.login_limited(ip, name):
        error, status = "Terlalu banyak percobaan masuk dari jaringan ini. Silakan coba lagi 15 menit lagi.", 429
    else:
        with session_scope(write=True) as session:
            user = session.get(User, user_id)
            if user is not None and user.active and totp.check(user, code):
                session.add(user)
                user.last_login_at = utcnow()
                fresh = auth.start_session(session, user, ip)
                status = 303
        if status == 401:
            await auth.login_failed(ip, name)
    if status != 303:
        response: Response = _render(request, "login_code.html", None, next=_safe_next(next),
                                     csrf=data.csrf, error=error)
        response.status_code = status
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    auth.write_session(response, fresh)
    return response


@router.post("/logout")
async def logout(request: Request, user: Viewer) -> RedirectResponse:
    auth.end_session(auth.read_session(request))  # this cookie, replayed, is anonymous from now on
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
    """The message after a reminder redirect (query `ok` and its details)."""
    ok = params.get("ok")
    if ok == "pengingat":
        return f"Pengingat dijadwalkan untuk {params.get('n', '0')} responden."
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
        try:
            count = enqueue_reminder(session, campaign.id, unit_id=unit.id, actor=f"pic:{user.login}")  # type: ignore[arg-type]
        except LifecycleError as exc:  # closed: nothing is sent
            raise HTTPException(409, str(exc)) from exc
        record(session, user.login, "monitor.reminder", institution_id=inst.id,
               target=f"campaign:{campaign.id}/unit:{unit.code}", details={"queued": count})
    return RedirectResponse(f"/pic/c/{campaign_id}/unit?ok=pengingat&n={count}", status_code=303)


def _include_extra() -> None:
    """Downloads from other packages and user management live in extra_routes (kept apart so each
    module stays small); they are registered before the generic `/c/{id}/{page}` routes match."""
    # Imported here: these modules import this one (_campaign, _render, ...), so a top-level
    # import would be circular.
    from monitor.account_routes import router as account  # circular too
    from monitor.actionplan_routes import router as action_plan  # circular too
    from monitor.audit_routes import router as audit
    from monitor.campaign_routes import router as lifecycle  # circular too
    from monitor.case_routes import router as respondent_cases  # circular too
    from monitor.counter_routes import router as counters  # circular too
    from monitor.data_routes import router as intake  # circular too
    from monitor.extra_routes import router as extra  # circular too
    from monitor.inbox_routes import router as inbox  # circular too
    from monitor.integrity_routes import router as integrity  # circular too
    from monitor.launch_routes import router as launch  # circular too
    from monitor.sample_routes import router as sample  # circular too
    from monitor.sending_routes import router as sending_actions  # circular too
    from monitor.unit_link_routes import router as unit_uploads  # circular too

    modules = (account, extra, integrity, audit, sending_actions, intake, sample, counters, launch, lifecycle,
               unit_uploads, respondent_cases, inbox, action_plan)
    for route in [r for m in modules for r in m.routes]:
        router.routes.insert(0, route)


_include_extra()
