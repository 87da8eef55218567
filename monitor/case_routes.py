"""Respondent cases on the dashboard (`/pic/c/N/kasus`, issue 25): the PIC sees each confirmed
"bukan saya" / "salah unit" / wrong-number case with the respondent's correction and the contact's
opt-in proof, and resolves it (correct and re-issue the link, replace from the reserve list, or
drop); bot.cases does the work and answers the respondent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import select

from bot import RespondentCase, cases, consent
from core.db import session_scope
from core.models import Person, Unit
from core.params import RowId
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import _campaign, _render

router = APIRouter(tags=["dashboard"])
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]


@router.get("/pic/c/{campaign_id}/kasus", response_class=HTMLResponse)
def case_list(campaign_id: RowId, request: Request, user: Viewer, ok: str = "", err: str = "") -> Response:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        rows = []
        for case in cases.listed(session, inst.id, campaign.id):  # type: ignore[arg-type]
            person = session.get(Person, case.person_id) if case.person_id else None
            rows.append({"case": case, "kind": cases.kind_label(case.kind),
                         "resolution": cases.resolution_label(case.resolution),
                         "person": person.name if person else "-",
                         "proofs": [(consent.label(p.source), p) for p in
                                    consent.proofs(session, person_id=case.person_id)]})
        units = session.exec(select(Unit).where(Unit.institution_id == inst.id).order_by(Unit.name)).all()
        return _render(request, "kasus.html", user, campaign=campaign, institution=inst, pages=PAGES,
                       page="kasus", rows=rows, units=units, message=ok or None, error=err or None)


@router.post("/pic/c/{campaign_id}/kasus/{case_id}", response_model=None)
def resolve(campaign_id: RowId, case_id: RowId, user: Actor,
            action: Annotated[str, Form(max_length=12)] = "",
            name: Annotated[str, Form(max_length=200)] = "",
            unit_id: Annotated[int | None, Form()] = None,
            phone: Annotated[str, Form(max_length=20)] = "") -> Response:
    """correct (name/unit/number + new link), replace (reserve) or drop."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        case = session.get(RespondentCase, case_id)
        if case is None or case.campaign_id != campaign.id or case.institution_id != inst.id:
            raise HTTPException(404, "Kasus tidak ditemukan.")
        try:
            if action == "correct":
                cases.correct(session, case, actor=user.login, name=name, unit_id=unit_id, phone=phone)
            elif action == "replace":
                cases.replace(session, case, actor=user.login)
            elif action == "drop":
                cases.drop(session, case, actor=user.login)
            else:
                raise HTTPException(422, "Tindakan tidak dikenal.")
        except cases.CaseError as exc:
            session.rollback()
            return RedirectResponse(f"/pic/c/{campaign_id}/kasus?err={exc}", status_code=303)
    return RedirectResponse(f"/pic/c/{campaign_id}/kasus?ok=Kasus+diselesaikan.", status_code=303)
