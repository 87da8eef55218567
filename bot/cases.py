"""Respondent cases (issue 25): "bukan saya", "salah nama", "salah unit", "sudah pindah" and a
wrong number, from the respondent's message to the PIC's answer.

1. The bot recognises the message (`intents.match_correction`) and asks once "is that right?"
   (a `RespondentCase` in status "pending", the number's state `c:<kind>`).
2. YA: the case opens for the PIC. The assignment is paused: a dispatch hold of scope
   "assignment" (no invitation, reminder or last call enqueued for it) and its waiting bulk rows
   cancelled. A wrong number at once stops every message to that number for that person: the
   number is taken off the person (so nothing is enqueued to it again; the case keeps it) and
   every waiting row to it for that person's assignments is cancelled. TIDAK: nothing changes.
3. The PIC resolves it on the dashboard (`/pic/c/N/kasus`): correct the name/unit/number and
   re-issue the link (a new token), call up a reserve, or drop the respondent. The answer goes
   back to the respondent: a free-form reply inside WhatsApp's 24-hour window, else the approved
   template with the new link (corrected only: there is no approved template for the others).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot import replies
from bot.callcentre import window_open
from bot.consent import record_for_phone
from bot.lookup import NOT_OPEN, OPEN, phone_of, surveys_of
from bot.models import ConversationEntry, RespondentCase
from core.assignments import link_of
from core.audit import record
from core.clock import format_datetime_id, utcnow
from core.datafiles import read_yaml
from core.models import Assignment, Campaign, Institution, Person, Unit
from core.templating import render
from core.tokens import hash_token, new_nonce, token_for
from dispatch import HoldScope, Outbox, Status, enqueue_link, enqueue_reply, holds
from population import SamplingError, replace_with_reserve

DATA = Path(__file__).resolve().parent / "data" / "cases.yaml"
KINDS = ("not_me", "wrong_name", "wrong_unit", "moved", "wrong_number")
STATE_PREFIX = "c:"


class CaseError(ValueError):
    """The PIC's action cannot be done; the message (Indonesian) says why."""


@lru_cache
def texts() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA)
    return data


def kind_label(kind: str) -> str:
    return str(texts()["kinds"].get(kind, {}).get("pic", kind))


def resolution_label(resolution: str | None) -> str:
    return str(texts()["resolutions"].get(resolution or "", "")) if resolution else ""


# --- the respondent's side (called by bot.handlers) ---------------------------------------------


def start(session: Session, phone: str, kind: str, text: str, now: datetime) -> tuple[RespondentCase | None, str]:
    """A correction recognised: a pending case and the question, or (None, why not)."""
    surveys = [s for s in surveys_of(session, phone, now) if s.state in (OPEN, NOT_OPEN)]
    if not surveys:
        return None, replies.simple("case_none")
    survey = surveys[0]
    case = RespondentCase(kind=kind, phone=phone, correction=text[:1000], status="pending",
                          institution_id=survey.institution_id, campaign_id=survey.campaign_id,
                          assignment_id=survey.assignment_id, person_id=survey.assignment.person_id,
                          opened_at=now)
    session.add(case)
    session.flush()
    ask = texts()["kinds"][kind]["ask"]
    return case, render("bot/case_confirm.txt", what=ask, institution=survey.institution).strip()


def pending(session: Session, case_id: int | None) -> RespondentCase | None:
    case = session.get(RespondentCase, case_id) if case_id else None
    return case if case is not None and case.status == "pending" else None


def cancel(session: Session, case: RespondentCase) -> None:
    case.status = "cancelled"
    session.add(case)


def confirm(session: Session, case: RespondentCase, now: datetime) -> str:
    """YA: the case opens for the PIC; the assignment pauses; a wrong number stops at once."""
    case.status, case.confirmed_at = "open", now
    session.add(case)
    assignment = session.get(Assignment, case.assignment_id) if case.assignment_id else None
    if assignment is not None:
        pause(session, assignment, actor="bot")
    record_for_phone(session, case.phone, now)  # before a wrong number is taken off the person
    institution = session.get(Institution, case.institution_id) if case.institution_id else None
    record(session, "bot", "case.open", institution_id=case.institution_id, target=f"case:{case.id}",
           details={"kind": case.kind, "assignment": case.assignment_id})
    if case.kind == "wrong_number" and case.person_id is not None:
        stop_number(session, case.person_id, case.phone)
        return replies.simple("case_wrong_number")
    return render("bot/case_opened.txt", institution=institution.name if institution else "").strip()


def pause(session: Session, assignment: Assignment, *, actor: str) -> int:
    """No more bulk messages for this assignment until the hold is lifted; returns rows cancelled."""
    campaign = session.get(Campaign, assignment.campaign_id)
    holds.hold(session, HoldScope.assignment, str(assignment.id), reason="respondent case", code="case",
               actor=actor, institution_id=campaign.institution_id if campaign else None)
    return holds.cancel(session, assignment.campaign_id, actor=actor, assignment_id=assignment.id,
                        institution_id=campaign.institution_id if campaign else None)


def stop_number(session: Session, person_id: int, phone: str) -> int:
    """A wrong number: nothing more to it for this person (its rows cancelled, the number taken
    off the person, so no later enqueue picks it). Other people with the number are untouched."""
    person = session.get(Person, person_id)
    if person is not None and person.phone == phone:
        person.phone = None
        session.add(person)
    ids = list(session.exec(select(Assignment.id).where(Assignment.person_id == person_id)).all())
    if not ids:
        return 0
    result = session.exec(update(Outbox).where(
        col(Outbox.to_address) == phone, col(Outbox.assignment_id).in_(ids),
        col(Outbox.status) == Status.pending).values(
        status=Status.failed, error_class="cancelled", error_message="wrong number (respondent case)",
        updated_at=utcnow()))
    return int(result.rowcount or 0)


# --- the PIC's side (called by monitor.case_routes) ---------------------------------------------


def listed(session: Session, institution_id: int, campaign_id: int) -> list[RespondentCase]:
    """The campaign's confirmed cases, open ones first."""
    rows = session.exec(select(RespondentCase).where(
        RespondentCase.institution_id == institution_id, RespondentCase.campaign_id == campaign_id,
        col(RespondentCase.status).in_(["open", "resolved"]))).all()
    return sorted(rows, key=lambda c: (c.status != "open", -(c.id or 0)))


def _open_case(case: RespondentCase | None) -> RespondentCase:
    if case is None or case.status != "open":
        raise CaseError("Kasus ini tidak ditemukan atau sudah diselesaikan.")
    return case


def _tell(session: Session, case: RespondentCase, body: str, now: datetime) -> bool:
    """The answer to the respondent inside the 24-hour window; False when it has closed."""
    if case.kind == "wrong_number" or not window_open(session, case.phone, now):
        return False
    # here, not at the top: bot.service imports bot.handlers, which imports this module (cycle)
    from bot.service import redact_links

    enqueue_reply(session, to=case.phone, body=body, key=f"case:{case.id}:resolved",
                  campaign_id=case.campaign_id, assignment_id=case.assignment_id)
    session.add(ConversationEntry(at=now, phone=case.phone, direction="out", body=redact_links(body),
                                  intent="koreksi", institution_id=case.institution_id))
    return True


def _close(session: Session, case: RespondentCase, resolution: str, actor: str, now: datetime,
           **details: Any) -> None:
    case.status, case.resolution, case.resolved_by, case.resolved_at = "resolved", resolution, actor, now
    session.add(case)
    if case.assignment_id is not None:
        holds.resume(session, HoldScope.assignment, str(case.assignment_id), actor=actor,
                     institution_id=case.institution_id)
    record(session, actor, f"case.{resolution}", institution_id=case.institution_id,
           target=f"case:{case.id}", details={"kind": case.kind, **details})


def correct(session: Session, case: RespondentCase | None, *, actor: str, name: str = "",
            unit_id: int | None = None, phone: str = "", now: datetime | None = None) -> str:
    """Correct the name, unit or number and re-issue the link (a new token: the old link stops
    working). Returns how the respondent was told: "reply", "template" or "none"."""
    now = now or utcnow()
    case = _open_case(case)
    assignment = session.get(Assignment, case.assignment_id) if case.assignment_id else None
    person = session.get(Person, case.person_id) if case.person_id else None
    if assignment is None or person is None:
        raise CaseError("Responden kasus ini tidak ditemukan lagi.")
    unit = session.get(Unit, unit_id) if unit_id else None
    if unit_id and (unit is None or unit.institution_id != case.institution_id):
        raise CaseError("Unit kerja tidak ditemukan di instansi ini.")
    new_phone = phone_of(phone.strip()) if phone.strip() else None
    if phone.strip() and new_phone is None:
        raise CaseError("Nomor WhatsApp tidak valid; tulis dalam format +62812xxxxxxx.")
    if name.strip():
        person.name = name.strip()[:200]
    if unit is not None:
        person.unit_id = assignment.unit_id = unit.id
    if new_phone:
        person.phone = new_phone
    assignment.token_nonce = new_nonce()
    assignment.token_hash = hash_token(token_for(assignment.token_nonce))
    session.add_all([person, assignment])
    _close(session, case, "corrected", actor, now, unit=bool(unit), name=bool(name.strip()),
           phone=bool(new_phone))
    session.flush()
    campaign = session.get(Campaign, assignment.campaign_id)
    institution = session.get(Institution, case.institution_id) if case.institution_id else None
    assert campaign is not None and campaign.closes_at is not None and institution is not None
    current = session.get(Unit, assignment.unit_id) if assignment.unit_id else None
    body = render("bot/case_corrected.txt", institution=institution.name, person=person.name,
                  unit=current.name if current else "", link=link_of(assignment),
                  closes=format_datetime_id(campaign.closes_at, institution.timezone)).strip()
    if person.phone == case.phone and _tell(session, case, body, now):
        return "reply"
    # outside the window (or a new number): the approved template carrying the new link
    return "template" if enqueue_link(session, assignment, purpose="registration") else "none"


def replace(session: Session, case: RespondentCase | None, *, actor: str,
            now: datetime | None = None) -> tuple[str, int | None]:
    """Call up the unit's next reserve in place of this respondent: (how told, reserve's id)."""
    now = now or utcnow()
    case = _open_case(case)
    assignment = session.get(Assignment, case.assignment_id) if case.assignment_id else None
    campaign = session.get(Campaign, case.campaign_id) if case.campaign_id else None
    unit = session.get(Unit, assignment.unit_id) if assignment and assignment.unit_id else None
    if assignment is None or campaign is None or unit is None:
        raise CaseError("Responden kasus ini tidak punya unit kerja: gunakan Keluarkan.")
    group = "internal" if assignment.group == "internal" else "external"
    try:
        reserve, _ = replace_with_reserve(session, campaign, unit.code, group, actor=actor,
                                          details={"case": case.id})
    except (ValueError, SamplingError) as exc:
        raise CaseError(f"Cadangan tidak dapat dipanggil: {exc}") from exc
    if reserve is None:
        raise CaseError(f"Daftar cadangan unit {unit.name} sudah habis: gunakan Keluarkan.")
    assignment.active = False
    session.add(assignment)
    case.replacement_id = reserve.id
    _close(session, case, "replaced", actor, now, reserve=reserve.id)
    institution = session.get(Institution, case.institution_id)
    told = _tell(session, case, render("bot/case_replaced.txt",
                                       institution=institution.name if institution else "").strip(), now)
    return ("reply" if told else "none"), reserve.id


def drop(session: Session, case: RespondentCase | None, *, actor: str, now: datetime | None = None) -> str:
    """Take the respondent out of the sample (no replacement). Returns how they were told."""
    now = now or utcnow()
    case = _open_case(case)
    assignment = session.get(Assignment, case.assignment_id) if case.assignment_id else None
    if assignment is not None:
        assignment.active = False
        session.add(assignment)
    _close(session, case, "dropped", actor, now)
    institution = session.get(Institution, case.institution_id)
    told = _tell(session, case, render("bot/case_dropped.txt",
                                       institution=institution.name if institution else "").strip(), now)
    return "reply" if told else "none"
