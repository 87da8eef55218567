"""Dashboard routes of the integrity page: view (viewer+), run the checks and record a review
decision (PIC or admin, CSRF, audited). Same rules as every /pic route: `require_user`, then
`check_scope` through `_campaign`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.db import session_scope
from core.params import RowId
from integrity import ReviewError, flag_campaign, record_review
from monitor.auth import CurrentUser, require_user
from monitor.integrity_page import INDEX_WAIT, build
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import _campaign, _is_closed, _render
from responses import Response as SurveyResponse

router = APIRouter(prefix="/pic", tags=["dashboard"])
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
MESSAGES = {
    "periksa": "Pemeriksaan integritas selesai: {n} tanda baru.",
    "tinjau": "Keputusan tinjauan tersimpan.",
}


def _page(request: Request, campaign_id: int, user: CurrentUser, hal: int = 0,
          message: str | None = None, error: str | None = None, status: int = 200) -> HTMLResponse:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        data = build(session, campaign, inst, page=max(0, min(hal, 10_000)), wait=INDEX_WAIT)
    response = _render(request, "integritas.html", user, campaign=campaign, institution=inst,
                       page="integritas", title="Integritas", data=data, pages=PAGES,
                       closed=_is_closed(campaign), message=message, error=error)
    response.status_code = status
    return response


@router.get("/c/{campaign_id}/integritas", response_class=HTMLResponse)
def integrity_page(request: Request, campaign_id: RowId, user: Viewer, hal: int = 0,
                   ok: str | None = None, n: int = 0) -> HTMLResponse:
    message = MESSAGES[ok].format(n=max(n, 0)) if ok in MESSAGES else None
    return _page(request, campaign_id, user, hal, message=message)


@router.post("/c/{campaign_id}/integritas/periksa")
def run_checks(campaign_id: RowId, user: Actor) -> RedirectResponse:
    """Run the integrity signals now and store new flags (idempotent; audited)."""
    with session_scope(write=True) as session:
        campaign, _ = _campaign(session, user, campaign_id)
        new = flag_campaign(session, campaign.id, actor=user.login)  # type: ignore[arg-type]
    return RedirectResponse(f"/pic/c/{campaign_id}/integritas?ok=periksa&n={new}", status_code=303)


@router.post("/c/{campaign_id}/integritas/tinjau/{response_id}", response_model=None)
def review(request: Request, campaign_id: RowId, response_id: RowId, user: Actor,
           decision: Annotated[str, Form(max_length=16)] = "",
           note: Annotated[str, Form(max_length=500)] = "", hal: Annotated[int, Form()] = 0) -> Response:
    """Record kept/excluded on every flag of one response of this campaign (audited)."""
    if decision not in ("kept", "excluded"):
        return _page(request, campaign_id, user, hal, status=422,
                     error="Pilih keputusan: dipertahankan atau dikeluarkan.")
    try:
        with session_scope(write=True) as session:
            campaign, _ = _campaign(session, user, campaign_id)
            row = session.get(SurveyResponse, response_id)
            if row is None or row.campaign_id != campaign.id:
                raise HTTPException(404, "Respons tidak ditemukan.")
            record_review(session, response_id, decision, user.login, note.strip() or None)
    except ReviewError:
        return _page(request, campaign_id, user, hal, status=422,
                     error=f"Respons #{response_id} tidak memiliki tanda integritas untuk ditinjau.")
    return RedirectResponse(f"/pic/c/{campaign_id}/integritas?ok=tinjau&hal={max(hal, 0)}", status_code=303)
