"""Dashboard actions on sending: pause, resume and cancel a campaign (or one wave of it) from its
"Pengiriman" panel (PIC of its institution, or admin), and lift a held sender or template from the
banner (admin). Every action goes through dispatch.holds, which writes the audit log with the
logged-in user as actor. Same rules as every /pic route: `require_user` (CSRF on POST), then
`check_scope` through `_campaign`: another institution's campaign answers 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from core.db import session_scope
from core.models import Campaign
from core.params import RowId
from dispatch import HoldScope, holds
from monitor import sending
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import _campaign, _render, _safe_next

router = APIRouter(prefix="/pic", tags=["dashboard"])
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
Admin = Annotated[CurrentUser, Depends(require_user(Role.admin))]
WaveField = Annotated[str, Form(max_length=6)]
CONFIRM = "ya"


def _wave(value: str | None) -> int | None:
    """The wave number of a form or query ("" or absent: the whole campaign)."""
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 999:
        raise HTTPException(400, "Nomor gelombang tidak valid.")
    return int(value)


def _target(campaign: Campaign, wave: int | None) -> tuple[HoldScope, str]:
    assert campaign.id is not None
    if wave is None:
        return HoldScope.campaign, str(campaign.id)
    return HoldScope.wave, holds.wave_target(campaign.id, wave)


def _back(campaign_id: int, ok: str, wave: int | None, n: int | None = None) -> RedirectResponse:
    query = f"ok={ok}" + (f"&w={wave}" if wave is not None else "") + (f"&n={n}" if n is not None else "")
    return RedirectResponse(f"/pic/c/{campaign_id}?{query}#pengiriman", status_code=303)


@router.post("/c/{campaign_id}/pengiriman/jeda")
def pause(campaign_id: RowId, user: Actor, wave: WaveField = "") -> RedirectResponse:
    """Pause bulk sending of the campaign or one wave; held messages stay pending (idempotent)."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)  # another institution's: 404
        number = _wave(wave)
        scope, target = _target(campaign, number)
        holds.hold(session, scope, target, reason=sending.MANUAL_REASON, code=sending.MANUAL,
                   actor=user.login, institution_id=inst.id)
    return _back(campaign_id, "jeda", number)


@router.post("/c/{campaign_id}/pengiriman/lanjutkan")
def resume(campaign_id: RowId, user: Actor, wave: WaveField = "") -> RedirectResponse:
    """Lift the campaign's (or wave's) pause; every held message still goes once."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        number = _wave(wave)
        scope, target = _target(campaign, number)
        holds.resume(session, scope, target, actor=user.login, institution_id=inst.id)
    return _back(campaign_id, "lanjut", number)


def _confirm_page(request: Request, session: Session, user: CurrentUser, campaign_id: RowId,
                  wave: int | None, error: str | None = None, status: int = 200) -> HTMLResponse:
    campaign, inst = _campaign(session, user, campaign_id)
    assert campaign.id is not None
    rows = sending.waves(session, campaign.id, set())
    waiting = sum(w.waiting for w in rows if wave is None or w.number == wave)
    response = _render(request, "batalkan.html", user, campaign=campaign, institution=inst, pages=PAGES,
                       page="ringkasan", wave=wave, waiting=waiting, confirm=CONFIRM, error=error)
    response.status_code = status
    return response


@router.get("/c/{campaign_id}/pengiriman/batalkan", response_class=HTMLResponse)
def cancel_form(request: Request, campaign_id: RowId, user: Actor, gelombang: str = "") -> HTMLResponse:
    """The confirmation step before cancelling: what would be cancelled, and a box to tick."""
    with session_scope() as session:
        return _confirm_page(request, session, user, campaign_id, _wave(gelombang))


@router.post("/c/{campaign_id}/pengiriman/batalkan", response_model=None)
def cancel(request: Request, campaign_id: RowId, user: Actor, wave: WaveField = "",
           yakin: Annotated[str, Form(max_length=4)] = "") -> Response:
    """Cancel the campaign's (or wave's) waiting bulk messages: they fail as cancelled and are
    never sent. Needs the confirmation box ticked."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        number = _wave(wave)
        if yakin != CONFIRM:
            return _confirm_page(request, session, user, campaign_id, number, status=422,
                                 error="Centang kotak konfirmasi untuk membatalkan pesan yang menunggu.")
        assert campaign.id is not None
        n = holds.cancel(session, campaign.id, wave=number, actor=user.login, institution_id=inst.id)
    sending.clear_plan_cache()  # the PIC sees the plan without what was just cancelled
    return _back(campaign_id, "batal", number, n)


@router.post("/admin/pengiriman/lanjutkan")
def admin_resume(user: Admin, scope: Annotated[str, Form(max_length=12)] = "",
                 target: Annotated[str, Form(max_length=254)] = "",
                 next: Annotated[str, Form(max_length=500)] = "/pic") -> RedirectResponse:  # noqa: A002
    """Lift a sender or template hold (the cause has been fixed); held messages go, each once."""
    if scope not in (HoldScope.sender, HoldScope.template) or not target:
        raise HTTPException(400, "Hanya penahanan pengirim atau templat yang dapat dilanjutkan di sini.")
    with session_scope(write=True) as session:
        holds.resume(session, HoldScope(scope), target, actor=user.login)
    return RedirectResponse(_safe_next(next), status_code=303)
