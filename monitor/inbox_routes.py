"""The call-centre inbox (`/pic/inbox`, issue 25): agents (and PICs, admins) of an institution see
its conversations only, with unread counts, assignment and the first-response time per agent
against the target; a conversation shows the number's previous messages (never questionnaire
answers), canned FAQ answers, and replies inside the 24-hour window (refused with the reason after
it; then only the approved template). bot.callcentre does the work."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select

from bot import AgentConversation, callcentre, consent
from core.clock import utcnow
from core.db import session_scope
from core.masking import mask_phone
from core.params import RowId
from monitor.auth import CurrentUser, require_user
from monitor.models import Role, User
from monitor.router import _render

router = APIRouter(tags=["dashboard"])
_Any = Annotated[CurrentUser, Depends(require_user(Role.agent))]
ALLOWED = (Role.agent, Role.pic, Role.admin)


def _agent(user: CurrentUser) -> CurrentUser:
    if user.role not in ALLOWED:
        raise HTTPException(403, "Anda tidak memiliki akses ke halaman ini.")
    return user


def _conv(session: object, user: CurrentUser, conv_id: int) -> AgentConversation:
    conv = session.get(AgentConversation, conv_id)  # type: ignore[attr-defined]
    if conv is None or (not user.is_admin and conv.institution_id != user.institution_id):
        raise HTTPException(404, "Percakapan tidak ditemukan.")
    return conv  # type: ignore[no-any-return]


@router.get("/pic/inbox", response_class=HTMLResponse)
def inbox(request: Request, user: _Any) -> Response:
    _agent(user)
    with session_scope() as session:
        query = select(AgentConversation)
        if not user.is_admin:
            query = query.where(AgentConversation.institution_id == user.institution_id)
        convs = list(session.exec(query.order_by(col(AgentConversation.status).desc(),
                                                 col(AgentConversation.id).desc())).all())
        names = {u.id: u.name or u.login for u in session.exec(select(User)).all()}
        rows = [{"conv": c, "phone": mask_phone(c.phone), "agent": names.get(c.agent_id or 0, "-")} for c in convs]
        figures = [{"agent": names.get(f.agent_id or 0, "(belum ditugaskan)"), "f": f}
                   for f in callcentre.figures(convs)]
        return _render(request, "inbox.html", user, rows=rows, figures=figures)


@router.get("/pic/inbox/{conv_id}", response_class=HTMLResponse)
def conversation(conv_id: RowId, request: Request, user: _Any, ok: str = "", err: str = "") -> Response:
    _agent(user)
    with session_scope(write=True) as session:
        conv = _conv(session, user, conv_id)
        callcentre.mark_read(session, conv)
        agents = session.exec(select(User).where(User.role == Role.agent,
                                                 User.institution_id == conv.institution_id)).all()
        return _render(request, "inbox_percakapan.html", user, conv=conv, phone=mask_phone(conv.phone),
                       lines=callcentre.history(session, conv), canned=callcentre.canned(),
                       window=callcentre.window_open(session, conv.phone, utcnow()), agents=agents,
                       proofs=[(consent.label(p.source), p) for p in consent.proofs(session, phone=conv.phone)],
                       message=ok or None, error=err or None)


@router.post("/pic/inbox/{conv_id}", response_model=None)
def act(conv_id: RowId, user: _Any, action: Annotated[str, Form(max_length=12)] = "",
        body: Annotated[str, Form(max_length=1600)] = "", canned: Annotated[str, Form(max_length=40)] = "",
        agent_id: Annotated[int | None, Form()] = None) -> Response:
    """reply (free text or a canned answer), template, assign, close."""
    _agent(user)
    back = f"/pic/inbox/{conv_id}"
    with session_scope(write=True) as session:
        conv = _conv(session, user, conv_id)
        try:
            if action == "reply":
                text = body or (callcentre.canned_text(canned) or "" if canned else "")
                callcentre.reply(session, conv, text, agent=user.login)
            elif action == "template":
                callcentre.send_template(session, conv, agent=user.login)
            elif action == "assign":
                conv.agent_id = agent_id or user.id
                session.add(conv)
            elif action == "close":
                conv.status, conv.closed_at = "closed", utcnow()
                session.add(conv)
            else:
                raise HTTPException(422, "Tindakan tidak dikenal.")
        except callcentre.ReplyRefused as exc:
            session.rollback()
            return RedirectResponse(f"{back}?err={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"{back}?ok=Tersimpan.", status_code=303)
