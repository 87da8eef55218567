"""Bot figures for the PIC dashboard, always scoped to one institution (and optionally a campaign).

Phone numbers are masked and personal links redacted in everything returned here.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, func, select

from bot import intents
from bot.models import ConversationEntry, IntentEvent
from bot.replies import faq_topics
from core.masking import mask_phone
from core.models import Assignment, Institution, OptOut, Person

# Outcomes of an "Isi Survei" that count as one re-request (a choice from a list does not).
RE_REQUEST_OUTCOMES = ("link", "list", "submitted", "closed", "not_open")
LINK_OUTCOMES = ("link", "list", "chosen")  # the respondent was given (or offered) their link


def _events(institution_id: int, campaign_id: int | None) -> list[Any]:
    where = [IntentEvent.institution_id == institution_id]
    if campaign_id is not None:
        where.append(IntentEvent.campaign_id == campaign_id)
    return where


def activity(session: Session, institution_id: int, campaign_id: int | None = None) -> dict[str, Any]:
    """Re-requests ("Isi Survei"), those that turned into responses, FAQ topics, opt-outs."""
    where = _events(institution_id, campaign_id)
    counts = session.exec(
        select(col(IntentEvent.intent), col(IntentEvent.outcome), col(IntentEvent.topic), func.count())
        .where(*where).group_by(col(IntentEvent.intent), col(IntentEvent.outcome), col(IntentEvent.topic))
    ).all()
    by_intent: dict[str, int] = {name: 0 for name in intents.INTENTS}
    outcomes: dict[str, int] = {}
    topics: dict[str, int] = {}
    for intent, outcome, topic, n in counts:
        by_intent[intent] = by_intent.get(intent, 0) + n
        if intent == intents.ISI_SURVEI and outcome in RE_REQUEST_OUTCOMES:
            outcomes[outcome] = outcomes.get(outcome, 0) + n
        if intent == intents.TANYA_SPI and topic:
            topics[topic] = topics.get(topic, 0) + n
    titles = {t.key: t.title for t in faq_topics()}
    converted = session.exec(
        select(func.count(func.distinct(IntentEvent.assignment_id)))
        .join(Assignment, Assignment.id == IntentEvent.assignment_id)  # type: ignore[arg-type]
        .where(*where, col(IntentEvent.outcome).in_(LINK_OUTCOMES),
               col(Assignment.responded_at).is_not(None),
               col(Assignment.responded_at) > col(IntentEvent.at))
    ).one()
    asked = session.exec(
        select(func.count(func.distinct(IntentEvent.assignment_id)))
        .where(*where, col(IntentEvent.outcome).in_(LINK_OUTCOMES))
    ).one()
    return {
        "re_requests": sum(outcomes.values()),
        "re_requests_by_outcome": outcomes,
        "re_requested_respondents": int(asked),
        "re_requests_responded": int(converted),
        "faq_topics": {titles.get(k, k): v for k, v in sorted(topics.items(), key=lambda kv: -kv[1])},
        "opt_outs": opt_outs(session, institution_id, campaign_id),
        "intents": by_intent,
    }


def opt_outs(session: Session, institution_id: int, campaign_id: int | None = None) -> int:
    """Numbers of this institution's people (of the campaign's respondents) now opted out."""
    query = (
        select(func.count(func.distinct(OptOut.address)))
        .join(Person, Person.phone == OptOut.address)  # type: ignore[arg-type]
        .where(Person.institution_id == institution_id)
    )
    if campaign_id is not None:
        query = query.join(Assignment, Assignment.person_id == Person.id).where(  # type: ignore[arg-type]
            Assignment.campaign_id == campaign_id)
    return int(session.exec(query).one())


OTHER_SURVEY = "(survei instansi lain)"
OTHER_INSTITUTION = "(instansi lain)"
_NUMBERED = re.compile(r"^(\s*\d+\.\s*)")


def _other_institutions(session: Session, institution_id: int, phones: set[str]) -> dict[str, list[str]]:
    """phone -> names of the *other* institutions that sampled that number (longest first)."""
    if not phones:
        return {}
    rows = session.exec(
        select(Person.phone, Institution.name).join(Institution, Institution.id == Person.institution_id)  # type: ignore[arg-type]
        .where(col(Person.phone).in_(phones), Person.institution_id != institution_id).distinct()
    ).all()
    out: dict[str, list[str]] = {}
    for phone, name in rows:
        if phone and name:
            out.setdefault(phone, []).append(name)
    return {p: sorted(set(n), key=len, reverse=True) for p, n in out.items()}


def redact_other_institutions(body: str, others: list[str], own: str) -> str:
    """A shared entry as one institution's PIC may see it: a numbered-list line about another
    institution becomes "(survei instansi lain)" and any other institution's name is replaced."""
    names = [n for n in others if n and n not in own]
    if not names:
        return body
    lines = []
    for line in body.split("\n"):
        if any(n in line for n in names):
            replaced = line
            for n in names:
                replaced = replaced.replace(n, OTHER_INSTITUTION)
            numbered = _NUMBERED.match(line)
            # a list line about another institution also names its unit: drop the whole line
            line = numbered.group(1) + OTHER_SURVEY if numbered and (not own or own not in replaced) else replaced
        lines.append(line)
    return "\n".join(lines)


def conversation_log(
    session: Session, institution_id: int, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """The institution's conversations, newest first: entries about this institution, and
    general entries of numbers that belong to its people, with other institutions' surveys
    redacted (a number sampled by two institutions gets one list naming both). Masked numbers,
    links redacted."""
    phones = select(Person.phone).where(
        Person.institution_id == institution_id, col(Person.phone).is_not(None))
    rows = session.exec(
        select(ConversationEntry)
        .where(or_(
            col(ConversationEntry.institution_id) == institution_id,
            and_(col(ConversationEntry.institution_id).is_(None),
                 col(ConversationEntry.phone).in_(phones)),
        ))
        .order_by(col(ConversationEntry.at).desc(), col(ConversationEntry.id).desc())
        .offset(max(offset, 0)).limit(max(min(limit, 1000), 0))
    ).all()
    own = session.get(Institution, institution_id)
    others = _other_institutions(session, institution_id, {e.phone for e in rows if e.institution_id is None})
    return [
        {"at": e.at, "phone": mask_phone(e.phone), "direction": "masuk" if e.direction == "in" else "keluar",
         "intent": e.intent or "",
         "text": e.body if e.institution_id is not None
         else redact_other_institutions(e.body, others.get(e.phone, []), own.name if own else "")}
        for e in rows
    ]
