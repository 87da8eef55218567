"""Loket dan poster: counters (loket) per unit with their daily visitors, a poster per counter,
guest-book entries per counter.

Same rules as every /pic route: `require_user` (CSRF on POST), then `check_scope` through
`_campaign`; creating a counter needs a PIC or admin, downloads any logged-in user of the
institution. The work is in qr.counters (validation, idempotent creation, counts, posters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from core.audit import record
from core.db import session_scope
from core.models import Campaign, Institution, Unit
from core.params import MAX_ROW_ID, RowId
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import _campaign, _is_closed, _render
from qr import CounterError, add_counter, counter_overview, counter_poster

router = APIRouter(prefix="/pic", tags=["dashboard"])
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
UnitId = Annotated[int, Query(ge=1, le=MAX_ROW_ID)]
KINDS = {"pendaftaran": "registration", "bukutamu": "guestbook"}


def _flash(params: Mapping[str, str]) -> str | None:
    ok, name, unit = params.get("ok"), params.get("n", "")[:60], params.get("u", "")[:200]
    what = name if name.casefold().startswith("loket") else f"Loket {name}"  # not "Loket Loket 1"
    if ok == "loket":
        return f"{what} di {unit} ditambahkan. Unduh posternya di bawah lalu pasang di loket itu."
    if ok == "loket-ada":
        return f"{what} di {unit} sudah ada; tidak ada yang diubah."
    return None


def _page(request: Request, session: Session, user: CurrentUser, campaign: Campaign, inst: Institution, *,
          values: Mapping[str, str] | None = None, error: str | None = None, status: int = 200) -> HTMLResponse:
    units = counter_overview(session, campaign)
    response = _render(request, "loket.html", user, campaign=campaign, institution=inst, pages=PAGES,
                       page="loket", units=units, links=poster_links, values=values or {}, error=error,
                       message=_flash(request.query_params), closed=_is_closed(campaign))
    response.status_code = status
    return response


@router.get("/c/{campaign_id}/loket", response_class=HTMLResponse)
def counters_page(request: Request, campaign_id: RowId, user: Viewer) -> HTMLResponse:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        return _page(request, session, user, campaign, inst)


@router.post("/c/{campaign_id}/loket", response_model=None)
def create_counter(
    request: Request, campaign_id: RowId, user: Actor,
    unit: Annotated[str, Form(max_length=12)] = "",
    nama: Annotated[str, Form(max_length=400)] = "",
    pengunjung: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Create a counter (idempotent: the same name twice says it exists)."""
    values = {"unit": unit, "nama": nama, "pengunjung": pengunjung}
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        found = session.get(Unit, int(unit)) if unit.isdigit() and len(unit) < 10 else None
        if found is None or found.institution_id != inst.id:
            return _page(request, session, user, campaign, inst, values=values, status=422,
                         error="Pilih unit kerja tempat loket itu berada.")
        try:
            added = add_counter(session, found, nama, pengunjung, actor=user.login)
        except CounterError as exc:
            return _page(request, session, user, campaign, inst, values=values, status=422, error=str(exc))
        query = urlencode({"ok": "loket" if added.created else "loket-ada", "n": added.counter.name,
                           "u": found.name})
    return RedirectResponse(f"/pic/c/{campaign_id}/loket?{query}", status_code=303)


@router.get("/c/{campaign_id}/loket/poster.{ext}")
def counter_poster_download(campaign_id: RowId, ext: str, user: Viewer, unit: UnitId, loket: str = "",
                            jenis: str = "pendaftaran") -> Response:
    """One counter's A4 poster (registration or guest book), PDF or PNG."""
    if ext not in ("pdf", "png") or jenis not in KINDS or len(loket) > 60:
        raise HTTPException(404, "Poster tidak ditemukan.")
    with session_scope(write=True) as session:  # the poster's short link is created on first use
        campaign, inst = _campaign(session, user, campaign_id)
        found = session.get(Unit, unit)
        if found is None or found.institution_id != inst.id:
            raise HTTPException(404, "Unit tidak ditemukan.")
        try:
            poster = counter_poster(session, campaign, found, loket, KINDS[jenis], ext)
        except LookupError as exc:
            raise HTTPException(404, "Loket tidak ditemukan.") from exc
        record(session, user.login, "monitor.export", institution_id=inst.id,
               target=f"campaign:{campaign.id}/loket/{found.code}/{loket}/{jenis}.{ext}")
    return Response(poster.body, media_type=poster.media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(poster.filename)}"})


def poster_links(campaign_id: int, unit_id: int, name: str) -> list[dict[str, Any]]:
    """The download links of one counter's posters, for the template."""
    out = []
    for jenis, title in (("pendaftaran", "Poster pendaftaran"), ("bukutamu", "Poster buku tamu")):
        for ext in ("pdf", "png"):
            query = urlencode({"unit": unit_id, "loket": name, "jenis": jenis})
            out.append({"href": f"/pic/c/{campaign_id}/loket/poster.{ext}?{query}", "text": ext.upper(),
                        "title": title, "aria": f"{title} {name} ({ext.upper()})"})
    return out
