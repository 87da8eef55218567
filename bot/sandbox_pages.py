"""The sandbox WhatsApp simulator (WHATSAPP_BACKEND=sandbox only; 404 otherwise).

`/sandbox/whatsapp` lists demo respondents; `/sandbox/whatsapp/{person_id}` shows the chat as the
respondent's phone would (what dispatch "sent" + what they wrote) and a form whose text goes
through the same `bot.service.receive` as a real webhook, then drains the outbox so the reply
appears. No JavaScript needed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlmodel import Session, col, select

from bot.lookup import surveys_of
from bot.models import InboundMessage
from bot.service import receive
from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import get_session, session_scope, write_lock
from core.masking import mask_phone
from core.models import Assignment, Campaign, Institution, Person, Unit
from core.templating import get_env
from dispatch import Incoming, run_until_idle
from dispatch import sandbox_conversation as conversation

router = APIRouter(prefix="/sandbox/whatsapp", include_in_schema=False)
templates = Jinja2Templates(env=get_env())
LIST_LIMIT = 200


# WhatsApp's formatting: *bold*, _italic_, ~strikethrough~; a marker opens before a non-space
# and closes after one, never inside a word (an underscore in a link stays as it is).
_STYLES = [(re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]+?)(?<=\S){m}(?![\w{m}])"), tag)
           for m, tag in ((r"\*", "strong"), ("_", "em"), ("~", "s"))]


def whatsapp_html(text: str) -> Markup:
    """A message as WhatsApp shows it: escaped first, then the markers turned into tags (so a
    message can never inject HTML)."""
    html = str(escape(text))
    for pattern, tag in _STYLES:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    return Markup(html)  # noqa: S704 - built from escaped text and fixed tags only


@dataclass(frozen=True)
class Bubble:
    at: datetime
    mine: bool  # written by the respondent
    text: str
    button_text: str | None = None
    button_url: str | None = None

    @property
    def html(self) -> Markup:
        return whatsapp_html(self.text)


def require_sandbox() -> None:
    if get_settings().whatsapp_backend != "sandbox":
        raise HTTPException(status_code=404)


def _sent_bubbles(session: Session, phone: str) -> list[Bubble]:
    """What dispatch recorded as sent to this number (text + the ISI SURVEI button)."""
    bubbles = []
    for msg in conversation(session, phone):
        at = getattr(msg, "at", None) or getattr(msg, "sent_at", None) or utcnow()
        bubbles.append(Bubble(
            at=as_utc(at), mine=False,
            text=str(getattr(msg, "text", None) or getattr(msg, "body", "") or ""),
            button_text=getattr(msg, "button_text", None) or (
                "ISI SURVEI" if getattr(msg, "button_url", None) else None),
            button_url=getattr(msg, "button_url", None),
        ))
    return bubbles


def _chat(session: Session, phone: str) -> list[Bubble]:
    inbound = session.exec(
        select(InboundMessage).where(InboundMessage.from_number == phone)
    ).all()
    bubbles = [Bubble(at=as_utc(m.received_at), mine=True,  # type: ignore[arg-type]
                      text=m.body or f"[{m.kind}]") for m in inbound]
    bubbles += _sent_bubbles(session, phone)
    bubbles.sort(key=lambda b: (b.at, not b.mine))
    return bubbles


@router.get("", response_class=HTMLResponse, dependencies=[Depends(require_sandbox)])
def sandbox_list(request: Request, session: Session = Depends(get_session)) -> Any:  # noqa: B008
    now = utcnow()
    rows = session.exec(
        select(Person, Institution, Unit)
        .join(Assignment, col(Assignment.person_id) == col(Person.id))
        .join(Campaign, col(Campaign.id) == col(Assignment.campaign_id))
        .join(Institution, col(Institution.id) == col(Person.institution_id))
        .outerjoin(Unit, col(Unit.id) == col(Person.unit_id))
        .where(col(Campaign.status) == "open", col(Person.phone).is_not(None),
               col(Assignment.active) == True, col(Campaign.closes_at) > now)  # noqa: E712
        .order_by(col(Institution.name), col(Person.name), col(Person.id))
        .limit(LIST_LIMIT)
    ).all()
    seen: set[int] = set()
    people = []
    for person, inst, unit in rows:
        if person.id in seen:
            continue
        seen.add(person.id)  # type: ignore[arg-type]
        people.append({"id": person.id, "name": person.name, "phone": mask_phone(person.phone),
                       "institution": inst.name, "unit": unit.name if unit else "", "group": person.group})
    return templates.TemplateResponse(request, "bot/sandbox_list.html",
                                      {"people": people, "limit": LIST_LIMIT})


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or not person.phone:
        raise HTTPException(status_code=404, detail="Responden tidak ditemukan")
    return person


@router.get("/{person_id}", response_class=HTMLResponse, dependencies=[Depends(require_sandbox)])
def sandbox_chat(request: Request, person_id: int,
                 session: Session = Depends(get_session)) -> Any:  # noqa: B008
    person = _person(session, person_id)
    surveys = surveys_of(session, person.phone, utcnow())  # type: ignore[arg-type]
    return templates.TemplateResponse(request, "bot/sandbox_chat.html", {
        "person": person, "phone": mask_phone(person.phone), "bubbles": _chat(session, person.phone),  # type: ignore[arg-type]
        "surveys": surveys, "suggestions": ["Isi Survei", "Tanya SPI", "1", "STOP", "MULAI"],
    })


@router.post("/{person_id}", dependencies=[Depends(require_sandbox)])
def sandbox_send(person_id: int, text: str = Form("", max_length=4000)) -> RedirectResponse:
    """Type a message as this respondent: the same path as a real webhook, then send the reply."""
    with session_scope() as session:
        phone = _person(session, person_id).phone
    message = Incoming(sid=f"SMsandbox{secrets.token_hex(12)}", sender=f"whatsapp:{phone}",
                       to=get_settings().whatsapp_sender_internal, body=text)
    with write_lock(), session_scope(write=True) as session:
        receive(session, message)
    run_until_idle(timeout=10)
    return RedirectResponse(f"/sandbox/whatsapp/{person_id}#end", status_code=303)
