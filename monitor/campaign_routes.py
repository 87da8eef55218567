"""The campaign lifecycle in the dashboard: close (with a reason, after a confirmation page),
reopen (with a reason, and a new closing date when the old one has passed), archive (admin).
Every action goes through core.campaigns, which records who, when and why on the campaign and in
the audit log. Same rules as every /pic route: `require_user` (CSRF on POST), then `check_scope`
through `_campaign`: another institution's campaign answers 404. Shown on the overview page
(templates/monitor/_siklus.html)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from core.campaigns import LifecycleError, archive_campaign, close_campaign, reopen_campaign
from core.db import session_scope
from core.params import RowId
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import _campaign, _render

router = APIRouter(prefix="/pic", tags=["dashboard"])
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
Admin = Annotated[CurrentUser, Depends(require_user(Role.admin))]
Reason = Annotated[str, Form(max_length=300)]
CONFIRM = "ya"


def _back(campaign_id: int, ok: str) -> RedirectResponse:
    return RedirectResponse(f"/pic/c/{campaign_id}?ok={ok}#siklus", status_code=303)


def _close_page(request: Request, session: Session, user: CurrentUser, campaign_id: int,
                reason: str = "", error: str | None = None, status: int = 200) -> HTMLResponse:
    campaign, inst = _campaign(session, user, campaign_id)
    response = _render(request, "tutup.html", user, campaign=campaign, institution=inst, pages=PAGES,
                       page="ringkasan", confirm=CONFIRM, reason=reason, error=error, refused=False)
    response.status_code = status
    return response


@router.get("/c/{campaign_id}/siklus/tutup", response_class=HTMLResponse)
def close_form(request: Request, campaign_id: RowId, user: Actor) -> HTMLResponse:
    """The confirmation step before closing: what closing means, the reason, a box to tick."""
    with session_scope() as session:
        return _close_page(request, session, user, campaign_id)


@router.post("/c/{campaign_id}/siklus/tutup", response_model=None)
def close(request: Request, campaign_id: RowId, user: Actor, alasan: Reason = "",
          yakin: Annotated[str, Form(max_length=4)] = "") -> Response:
    """Close the campaign now: no answers, registrations or messages any more."""
    with session_scope(write=True) as session:
        campaign, _ = _campaign(session, user, campaign_id)
        if yakin != CONFIRM:
            return _close_page(request, session, user, campaign_id, alasan, status=422,
                               error="Centang kotak konfirmasi untuk menutup kampanye.")
        try:
            close_campaign(session, campaign, actor=user.login, reason=alasan)
        except LifecycleError as exc:
            session.rollback()
            return _close_page(request, session, user, campaign_id, alasan, error=str(exc), status=422)
    return _back(campaign_id, "tutup")


def _new_close(value: str, tz: str) -> datetime | None:
    """A new closing date from the form (local, inclusive: 23:59:59 that day); None if empty."""
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(23, 59, 59), ZoneInfo(tz))
    except ValueError as exc:
        raise LifecycleError("Tanggal tutup baru tidak valid (format TTTT-BB-HH).") from exc


@router.post("/c/{campaign_id}/siklus/buka", response_model=None)
def reopen(request: Request, campaign_id: RowId, user: Actor, alasan: Reason = "",
           tutup: Annotated[str, Form(max_length=10)] = "") -> Response:
    """Open a closed (or archived) campaign again, before its contact data is purged."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        try:
            reopen_campaign(session, campaign, actor=user.login, reason=alasan,
                            closes_at=_new_close(tutup, inst.timezone))
        except LifecycleError as exc:
            session.rollback()
            return _error(request, user, campaign_id, str(exc))
    return _back(campaign_id, "buka")


@router.post("/c/{campaign_id}/siklus/arsip", response_model=None)
def archive(request: Request, campaign_id: RowId, user: Admin) -> Response:
    """Archive a closed campaign (admin): over for good; scores and reports stay."""
    with session_scope(write=True) as session:
        campaign, _ = _campaign(session, user, campaign_id)
        try:
            archive_campaign(session, campaign, actor=user.login)
        except LifecycleError as exc:
            session.rollback()
            return _error(request, user, campaign_id, str(exc))
    return _back(campaign_id, "arsip")


def _error(request: Request, user: CurrentUser, campaign_id: int, error: str) -> HTMLResponse:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        response = _render(request, "tutup.html", user, campaign=campaign, institution=inst, pages=PAGES,
                           page="ringkasan", confirm=CONFIRM, reason="", error=error, refused=True)
    response.status_code = 422
    return response
