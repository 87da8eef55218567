"""The action plan page (rencana aksi, issue 24): /pic/c/<id>/rencana-aksi.

Everyone of the institution sees the plan, its progress and evidence (the head of the institution
has a viewer account); PICs generate it from the risk map, edit each action, export and re-import
the .xlsx form and upload evidence. Evidence is served only to the institution's users: another
institution's campaign, or a file that is not of this campaign's plan, is 404.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select

from actionplan import (
    ActionEvidence,
    ActionItem,
    PlanError,
    generate,
    items,
    progress,
    read_evidence,
    read_form,
    save_evidence,
    settings,
    status_labels,
    units_of,
    update,
    write_form,
)
from core.db import session_scope
from core.params import RowId
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import XLSX, _campaign, _render

router = APIRouter(tags=["dashboard"])
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
FORM_MAX_BYTES = 5 * 1024 * 1024  # the re-imported form
FLASH = {"buat": "Rencana aksi dibuat dari peta risiko.", "simpan": "Aksi disimpan.",
         "impor": "Formulir rencana aksi diimpor.", "bukti": "Bukti dukung diunggah.",
         "kosong": "Peta risiko belum tersedia (jawaban belum cukup), jadi rencana aksi belum dapat dibuat."}


def _evidence_limit(request: Request) -> None:
    """Refuse a body clearly above the evidence cap before it is read (413)."""
    length = request.headers.get("content-length", "")
    cap = max(int(settings()["evidence_max_bytes"]), FORM_MAX_BYTES) + 256 * 1024  # multipart overhead
    if not length.isdigit():
        raise HTTPException(411, "Unggahan tanpa panjang isi tidak diterima.")
    if int(length) > cap:
        raise HTTPException(413, f"Berkas terlalu besar: {settings()['evidence_size_rule']}.")


SizeChecked = Annotated[None, Depends(_evidence_limit)]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]


def _page(request: Request, user: CurrentUser, campaign_id: int, *, message: str | None = None,
          error: str | None = None, status: int = 200) -> HTMLResponse:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        plan = items(session, campaign_id)
        units = units_of(session, inst.id)  # type: ignore[arg-type]
        evidence: dict[int, list[ActionEvidence]] = {}
        ids = [i.id for i in plan]
        if ids:
            for e in session.scalars(select(ActionEvidence).where(col(ActionEvidence.item_id).in_(ids))
                                     .order_by(col(ActionEvidence.id))):
                evidence.setdefault(e.item_id, []).append(e)
        response = _render(request, "rencana_aksi.html", user, campaign=campaign, institution=inst, page="rencana-aksi",
                           pages=PAGES,
                           plan=plan, units=units, unit_names={u.id: u.name for u in units}, evidence=evidence,
                           progress=progress(session, campaign), statuses=status_labels(),
                           kinds=settings()["evidence_kinds"], type_rule=settings()["evidence_type_rule"],
                           size_rule=settings()["evidence_size_rule"], message=message, error=error)
    response.status_code = status
    return response


def _back(campaign_id: int, ok: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/pic/c/{campaign_id}/rencana-aksi?ok={ok}{anchor}", status_code=303)


def _item(session: Any, user: CurrentUser, campaign_id: int, item_id: int) -> ActionItem:
    _campaign(session, user, campaign_id)  # another institution's: 404 first
    item = session.get(ActionItem, item_id)
    if item is None or item.campaign_id != campaign_id:
        raise HTTPException(404, "Data tidak ditemukan.")
    return item  # type: ignore[no-any-return]


@router.get("/pic/c/{campaign_id}/rencana-aksi", response_class=HTMLResponse)
def plan_page(request: Request, campaign_id: RowId, user: Viewer, ok: str | None = None) -> HTMLResponse:
    return _page(request, user, campaign_id, message=FLASH.get(ok or ""))


@router.post("/pic/c/{campaign_id}/rencana-aksi/buat", response_model=None)
def make_plan(request: Request, campaign_id: RowId, user: Actor) -> Response:
    with session_scope(write=True) as session:
        campaign, _ = _campaign(session, user, campaign_id)
        made = generate(session, campaign, user.login) or len(items(session, campaign_id))
    return _back(campaign_id, "buat" if made else "kosong")


@router.post("/pic/c/{campaign_id}/rencana-aksi/aksi/{item_id}", response_model=None)
def edit_action(request: Request, campaign_id: RowId, item_id: RowId, user: Actor,
                action: Annotated[str, Form(max_length=4000)] = "",
                recommendation: Annotated[str, Form(max_length=4000)] = "",
                mcp_area: Annotated[str, Form(max_length=200)] = "",
                success_criteria: Annotated[str, Form(max_length=4000)] = "",
                success_measure: Annotated[str, Form(max_length=4000)] = "",
                owner: Annotated[str, Form(max_length=20)] = "",
                timing: Annotated[str, Form(max_length=60)] = "",
                due_date: Annotated[str, Form(max_length=20)] = "",
                status: Annotated[str, Form(max_length=40)] = "belum") -> Response:
    try:
        with session_scope(write=True) as session:
            item = _item(session, user, campaign_id, item_id)
            update(session, item, {"action": action, "recommendation": recommendation, "mcp_area": mcp_area,
                                   "success_criteria": success_criteria, "success_measure": success_measure,
                                   "owner_unit_id": int(owner) if owner.isdigit() else None, "timing": timing,
                                   "due_date": due_date, "status": status}, user.login)
    except PlanError as exc:
        return _page(request, user, campaign_id, error=str(exc), status=422)
    return _back(campaign_id, "simpan", f"#aksi-{item_id}")


@router.get("/pic/c/{campaign_id}/rencana-aksi.xlsx")
def export_form(campaign_id: RowId, user: Viewer) -> Response:
    buffer = io.BytesIO()
    with session_scope() as session:
        campaign, _ = _campaign(session, user, campaign_id)
        write_form(session, campaign, buffer)
    return Response(buffer.getvalue(), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="rencana-aksi-{campaign_id}.xlsx"'})


async def _file(request: Request, field: str, cap: int) -> tuple[str, bytes, Any]:
    form = await request.form()
    upload = form.get(field)
    if upload is None or isinstance(upload, str):
        raise PlanError("Pilih berkas yang akan diunggah.")
    content = await upload.read(cap + 1)  # never more than one byte past the cap
    return upload.filename or "", content, form


@router.post("/pic/c/{campaign_id}/rencana-aksi/impor", response_model=None)
async def import_form(request: Request, campaign_id: RowId, _size: SizeChecked, user: Actor) -> Response:
    try:
        _, content, _ = await _file(request, "berkas", FORM_MAX_BYTES)
        if len(content) > FORM_MAX_BYTES:
            raise PlanError("Berkas formulir terlalu besar.")
        with session_scope(write=True) as session:
            campaign, _ = _campaign(session, user, campaign_id)
            read_form(session, campaign, io.BytesIO(content), user.login)
    except PlanError as exc:
        return _page(request, user, campaign_id, error=str(exc), status=422)
    return _back(campaign_id, "impor")


@router.post("/pic/c/{campaign_id}/rencana-aksi/aksi/{item_id}/bukti", response_model=None)
async def upload_evidence(request: Request, campaign_id: RowId, item_id: RowId, _size: SizeChecked,
                          user: Actor) -> Response:
    cap = int(settings()["evidence_max_bytes"])
    try:
        filename, content, form = await _file(request, "berkas", cap)
        with session_scope(write=True) as session:
            item = _item(session, user, campaign_id, item_id)
            save_evidence(session, item, str(form.get("jenis") or ""), filename, content, user.login)
    except PlanError as exc:
        return _page(request, user, campaign_id, error=str(exc), status=422)
    return _back(campaign_id, "bukti", f"#aksi-{item_id}")


@router.get("/pic/c/{campaign_id}/rencana-aksi/bukti/{evidence_id}")
def download_evidence(campaign_id: RowId, evidence_id: RowId, user: Viewer) -> Response:
    with session_scope() as session:
        _campaign(session, user, campaign_id)  # another institution's campaign: 404
        evidence = session.get(ActionEvidence, evidence_id)
        item = session.get(ActionItem, evidence.item_id) if evidence is not None else None
        if evidence is None or item is None or item.campaign_id != campaign_id:
            raise HTTPException(404, "Data tidak ditemukan.")
        try:
            content, media_type = read_evidence(evidence)
        except FileNotFoundError as exc:
            raise HTTPException(404, "Berkas bukti tidak ditemukan.") from exc
        label = evidence.label
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{label}"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store"})
