"""Luncurkan: the preflight and the send plan of the invitation wave, launched with one confirmed click.

The page shows `spibot check` as a checklist (with what to fix), the sample and the campaign's
state, and what `spibot send invitations` would enqueue (per channel, the cost, when the last
WhatsApp invitation is expected under WHATSAPP_DAILY_LIMIT, quiet hours). "Luncurkan undangan"
leads to a confirmation page; its POST calls dispatch.launch (the CLI's `enqueue_invitations`,
audit-logged with the PIC; idempotent through the outbox keys). Once launched, the page carries
the "Pengiriman" panel (pause, resume, cancel: monitor/sending_routes.py).
Same rules as every /pic route: `require_user` (CSRF on POST), then `check_scope` via `_campaign`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from core.audit import record
from core.config import get_settings
from core.db import session_scope
from core.models import Campaign, Institution
from core.params import RowId
from dispatch import LaunchRefused, format_cost_id, launch, readiness, run_checks
from monitor import sending
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import _campaign, _is_closed, _render

router = APIRouter(prefix="/pic", tags=["dashboard"])
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
CONFIRM = "ya"


def _flash(params: Mapping[str, str]) -> str | None:
    if params.get("ok") != "luncur":
        return None
    n = params.get("n", "0")
    if n in ("", "0") or not n.isdigit():
        return "Tidak ada undangan baru: semua undangan sudah diantrekan sebelumnya."
    return (f"{int(n):,}".replace(",", ".") + " undangan diantrekan dan mulai dikirim. "
            "Pantau, jeda atau lanjutkan di panel Pengiriman di bawah.")


def _page(request: Request, session: Session, user: CurrentUser, campaign: Campaign, inst: Institution,
          name: str = "luncurkan.html", *, error: str | None = None, status: int = 200) -> HTMLResponse:
    assert campaign.id is not None
    ready = readiness(session, campaign.id, smtp_login=True)
    panel = sending.panel(session, campaign, inst) if ready.started else None
    response = _render(request, name, user, campaign=campaign, institution=inst, pages=PAGES, page="luncurkan",
                       ready=ready, sending=panel,
                       cost=format_cost_id(ready.preview.cost) if ready.preview else "-",
                       limit=get_settings().whatsapp_daily_limit,
                       closed=_is_closed(campaign), confirm=CONFIRM, error=error,
                       message=sending.flash(request.query_params) or _flash(request.query_params))
    response.status_code = status
    return response


@router.get("/c/{campaign_id}/luncurkan", response_class=HTMLResponse)
def launch_page(request: Request, campaign_id: RowId, user: Viewer) -> HTMLResponse:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        return _page(request, session, user, campaign, inst)


@router.get("/c/{campaign_id}/luncurkan/konfirmasi", response_class=HTMLResponse)
def confirm_page(request: Request, campaign_id: RowId, user: Actor) -> HTMLResponse:
    """The second step: what will be enqueued, and a box to tick. Refused launches stay on the
    main page with their reasons."""
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        return _page(request, session, user, campaign, inst, "luncurkan_konfirmasi.html")


@router.post("/c/{campaign_id}/luncurkan", response_model=None)
def launch_invitations(request: Request, campaign_id: RowId, user: Actor,
                       yakin: Annotated[str, Form(max_length=4)] = "") -> Response:
    """Enqueue the invitation wave (idempotent); refused (409) with the reasons when it may not go."""
    problems = run_checks(get_settings())  # before the write transaction: it may log in to SMTP
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)  # another institution's: 404
        assert campaign.id is not None
        if yakin != CONFIRM:
            return _page(request, session, user, campaign, inst, "luncurkan_konfirmasi.html", status=422,
                         error="Centang kotak konfirmasi untuk meluncurkan undangan.")
        try:
            n = launch(session, campaign.id, actor=user.login, problems=problems)
        except (LaunchRefused, ValueError) as exc:  # ValueError: closed meanwhile (core.campaigns)
            session.rollback()
            reasons = exc.reasons if isinstance(exc, LaunchRefused) else [str(exc)]
            return _page(request, session, user, campaign, inst, status=409,
                         error="Undangan belum dapat diluncurkan: " + " ".join(reasons))
        record(session, user.login, "monitor.launch", institution_id=inst.id,
               target=f"campaign:{campaign.id}", details={"enqueued": n})
    return RedirectResponse(f"/pic/c/{campaign_id}/luncurkan?ok=luncur&n={n}", status_code=303)
