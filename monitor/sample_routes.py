"""Sampel actions: the sample plan before the draw, the confirmed draw, reserves called with a
reason and undone before their invitation goes.

The page itself (`GET /pic/c/{id}/sampel`) is served here rather than by the generic campaign
page, for its own messages. Every action needs a PIC (a viewer gets 403) and goes through
`_campaign` (another institution's campaign: 404); the audit log names the PIC.

The draw is confirmed on a second page that shows the population hash it will use; the POST
carries that hash. A second POST of the same confirmation (a double click, a reload) draws
nothing and shows the existing draw; a population changed since the confirmation was shown is
refused and confirmed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.db import session_scope
from core.params import RowId
from monitor import pages
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.router import _campaign, _is_closed, _render
from population import (
    REASONS,
    ReserveNotFound,
    SamplingError,
    call_reserve_with_reason,
    called_reserves,
    draw_sample,
    draw_summary,
    sample_plan,
    undo_reserve,
)

router = APIRouter(prefix="/pic", tags=["dashboard"])
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
CLOSED = "Kampanye sudah ditutup; sampel tidak bisa diubah."
NO_POPULATION = ("Sampel belum bisa ditarik: belum ada populasi eligible untuk kampanye ini. "
                 "Unggah data populasi dulu di halaman Kumpulkan data.")


def _flash(params: Mapping[str, str]) -> str | None:
    """The message after an action's redirect (query `ok` and its details)."""
    ok = params.get("ok")
    unit, rank, n = params.get("u", ""), params.get("r", "?"), params.get("n", "0")
    if ok == "ditarik":
        return "Sampel berhasil ditarik. Catatan penarikan ada di bawah."
    if ok == "sudah-ditarik":
        return "Sampel sudah ditarik sebelumnya; tidak ada penarikan baru."
    if ok == "cadangan":
        sent = "undangan sudah diantrekan" if n != "0" else "undangan dikirim bersama gelombang undangan"
        return f"Cadangan ke-{rank} unit {unit} dipanggil; {sent}."
    if ok == "cadangan-habis":
        return f"Daftar cadangan unit {unit} sudah habis."
    if ok == "cadangan-batal":
        return f"Pemanggilan cadangan ke-{rank} unit {unit} dibatalkan; {n} pesan yang menunggu ikut dibatalkan."
    return None


def _page(request: Request, session: Session, user: CurrentUser, campaign_id: int, *,
          message: str | None = None, error: str | None = None, status: int = 200) -> HTMLResponse:
    campaign, inst = _campaign(session, user, campaign_id)
    title, build = pages.PAGES["sampel"]
    response = _render(request, "sampel.html", user, campaign=campaign, institution=inst, page="sampel",
                       title=title, data=build(session, campaign, inst), pages=pages.PAGES, message=message,
                       error=error, sending=None, closed=_is_closed(campaign), reasons=REASONS)
    response.status_code = status
    return response


def _back(campaign_id: int, query: str) -> RedirectResponse:
    return RedirectResponse(f"/pic/c/{campaign_id}/sampel?{query}", status_code=303)


@router.get("/c/{campaign_id}/sampel", response_class=HTMLResponse)
def sample_page(request: Request, campaign_id: RowId, user: Viewer) -> HTMLResponse:
    """Before the draw: the plan and "Tarik sampel"; after it: the audit, allocation, reserves."""
    with session_scope() as session:
        return _page(request, session, user, campaign_id, message=_flash(request.query_params))


# --- the draw -------------------------------------------------------------------------------------


def _confirm(request: Request, session: Session, user: CurrentUser, campaign_id: int, *,
             error: str | None = None, status: int = 200) -> Response:
    """The confirmation page of the draw, or the sampel page when there is nothing to confirm."""
    campaign, inst = _campaign(session, user, campaign_id)
    if draw_summary(session, campaign.id, inst.id) is not None:  # type: ignore[arg-type]
        return _back(campaign_id, "ok=sudah-ditarik")
    if _is_closed(campaign):
        return _page(request, session, user, campaign_id, error=CLOSED, status=409)
    plan = sample_plan(session, campaign)
    if not plan.drawable:
        return _page(request, session, user, campaign_id, error=NO_POPULATION, status=409)
    response = _render(request, "sampel_konfirmasi.html", user, campaign=campaign, institution=inst,
                       page="sampel", pages=pages.PAGES, mode="tarik", plan=plan, error=error)
    response.status_code = status
    return response


@router.get("/c/{campaign_id}/sampel/tarik", response_class=HTMLResponse, response_model=None)
def draw_form(request: Request, campaign_id: RowId, user: Actor) -> Response:
    """The confirmation step: the plan in short and the population hash the draw will use."""
    with session_scope() as session:
        return _confirm(request, session, user, campaign_id)


@router.post("/c/{campaign_id}/sampel/tarik", response_model=None)
def draw(request: Request, campaign_id: RowId, user: Actor,
         population_hash: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Draw the sample (the CLI's service, the PIC as actor), once: a drawn campaign is shown as it is."""
    try:
        with session_scope(write=True) as session:
            campaign, inst = _campaign(session, user, campaign_id)
            if draw_summary(session, campaign.id, inst.id) is not None:  # type: ignore[arg-type]
                return _back(campaign_id, "ok=sudah-ditarik")
            if _is_closed(campaign):
                return _page(request, session, user, campaign_id, error=CLOSED, status=409)
            plan = sample_plan(session, campaign)
            if not plan.drawable:
                return _page(request, session, user, campaign_id, error=NO_POPULATION, status=409)
            if plan.population_hash != population_hash:
                return _confirm(request, session, user, campaign_id, status=409, error=(
                    "Data populasi berubah sejak halaman konfirmasi dibuka. Periksa rencana dan hash "
                    "populasi yang baru, lalu konfirmasi lagi."))
            try:
                drawn = draw_sample(session, campaign, actor=user.login)
            except SamplingError as exc:
                session.rollback()  # whatever the refused draw had begun
                return _page(request, session, user, campaign_id, error=str(exc), status=409)
            if drawn.population_hash != population_hash:  # cannot happen in one transaction
                raise HTTPException(409, "Data populasi berubah saat penarikan; tidak ada yang disimpan.")
    except IntegrityError:  # a concurrent POST drew it first (SampleDraw's unique version)
        return _back(campaign_id, "ok=sudah-ditarik")
    return _back(campaign_id, "ok=ditarik")


# --- reserves -------------------------------------------------------------------------------------


def _reserve_form(request: Request, session: Session, user: CurrentUser, campaign_id: int, unit: str,
                  group: str, *, error: str | None = None, status: int = 200, reason: str = "",
                  note: str = "") -> HTMLResponse:
    campaign, inst = _campaign(session, user, campaign_id)
    summary = draw_summary(session, campaign.id, inst.id)  # type: ignore[arg-type]
    found = next((a for a in (summary.allocations if summary else []) if a.group == group and a.code == unit), None)
    if found is None:
        raise HTTPException(404, "Unit tidak ada di sampel kampanye ini.")
    response = _render(request, "sampel_konfirmasi.html", user, campaign=campaign, institution=inst,
                       page="sampel", pages=pages.PAGES, mode="cadangan", unit=found, reasons=REASONS,
                       reason=reason, note=note, error=error)
    response.status_code = status
    return response


def _check_group(unit: str, group: str) -> None:
    if group not in ("internal", "external") or not unit:
        raise HTTPException(400, "Pilih unit dan kelompok (internal/eksternal).")


@router.get("/c/{campaign_id}/sampel/cadangan", response_class=HTMLResponse)
def reserve_form(request: Request, campaign_id: RowId, user: Actor, unit: str = "", group: str = "") -> HTMLResponse:
    """Why the reserve is called: a short reason and a note."""
    _check_group(unit, group)
    with session_scope() as session:
        return _reserve_form(request, session, user, campaign_id, unit[:60], group)


@router.post("/c/{campaign_id}/sampel/cadangan", response_model=None)
def call_reserve(request: Request, campaign_id: RowId, user: Actor, unit: Annotated[str, Form(max_length=60)] = "",
                 group: Annotated[str, Form(max_length=16)] = "", alasan: Annotated[str, Form(max_length=40)] = "",
                 keterangan: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Replace an unreachable respondent: the unit's next reserve, invited if the wave already ran;
    the reason goes to the audit log."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)  # another institution's campaign: 404
        _check_group(unit, group)
        if _is_closed(campaign):
            raise HTTPException(409, "Kampanye sudah ditutup.")
        problem = "Pilih alasan pemanggilan cadangan." if alasan not in REASONS else \
            "Tuliskan keterangan untuk alasan Lainnya." if alasan == "lainnya" and not keterangan.strip() else None
        if problem:
            return _reserve_form(request, session, user, campaign_id, unit, group, error=problem, status=422,
                                 reason=alasan, note=keterangan)
        try:
            assignment, invited = call_reserve_with_reason(session, campaign, unit, group, reason=alasan,
                                                           note=keterangan, actor=user.login)
        except SamplingError as exc:
            raise HTTPException(404, str(exc)) from exc
    query = "ok=cadangan-habis" if assignment is None else f"ok=cadangan&r={assignment.reserve_rank}&n={invited}"
    return _back(campaign_id, f"{query}&u={quote(unit)}")


@router.post("/c/{campaign_id}/sampel/cadangan/{assignment_id}/batalkan", response_model=None)
def undo(request: Request, campaign_id: RowId, assignment_id: RowId, user: Actor) -> Response:
    """Undo a called reserve whose invitation has not gone; its waiting messages are cancelled."""
    try:
        with session_scope(write=True) as session:
            campaign, inst = _campaign(session, user, campaign_id)
            if _is_closed(campaign):
                raise SamplingError(CLOSED)
            called = next((c for c in called_reserves(session, campaign) if c.assignment_id == assignment_id),
                          None)
            cancelled = undo_reserve(session, campaign, assignment_id, actor=user.login)
    except ReserveNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except SamplingError as exc:  # rolled back: nothing changed
        with session_scope() as session:
            return _page(request, session, user, campaign_id, error=str(exc), status=409)
    assert called is not None
    return _back(campaign_id, f"ok=cadangan-batal&r={called.rank}&n={cancelled}&u={quote(called.unit_code)}")
