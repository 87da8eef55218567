"""The call-centre inbox behind "Tanya SPI" (issue 25).

A message the bot cannot answer, sent after the FAQ menu was offered once, opens a conversation
(`AgentConversation`) for the agents of the number's institution; further messages join it. The
agent sees the number's previous messages (the bot's conversation log: never the questionnaire's
answers, which live apart from identity), canned answers from the FAQ file, and replies inside
WhatsApp's 24-hour customer-service window; once it closes, a free-form reply is refused with the
reason and only an approved template (the respondent's survey link) may be sent. Hours, the
target first-response time and the refusal texts live in `bot/data/callcentre.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot import replies
from bot.consent import record_for_phone
from bot.lookup import OPEN, institutions_of, surveys_of
from bot.models import AgentConversation, ConversationEntry, InboundMessage
from core.clock import as_utc, format_datetime_id, local, parse_hhmm, utcnow
from core.datafiles import read_yaml
from core.templating import render
from dispatch import enqueue_link, enqueue_reply

DATA = Path(__file__).resolve().parent / "data" / "callcentre.yaml"


class ReplyRefused(ValueError):
    """An agent's reply may not be sent; the message (Indonesian) says why."""


@lru_cache
def settings() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA)
    return data


def is_open(now: datetime) -> bool:
    hours = settings()["hours"]
    at = local(now, hours["timezone"]).time()
    return parse_hhmm(hours["opens"]) <= at < parse_hhmm(hours["closes"])


def next_opening(now: datetime) -> datetime:
    """When a person will next answer (now when the call centre is open)."""
    hours = settings()["hours"]
    here = local(now, hours["timezone"])
    opens = here.replace(hour=parse_hhmm(hours["opens"]).hour, minute=parse_hhmm(hours["opens"]).minute,
                         second=0, microsecond=0)
    if is_open(now):
        return now
    return as_utc(opens if here < opens else opens + timedelta(days=1))


def handover_text(now: datetime) -> str:
    hours = settings()["hours"]
    return render("bot/handover.txt", open_now=is_open(now), hours=hours["label"],
                  next_open=format_datetime_id(next_opening(now), hours["timezone"])).strip()


def last_inbound(session: Session, phone: str) -> datetime | None:
    found = session.exec(select(func.max(InboundMessage.received_at))
                         .where(InboundMessage.from_number == phone)).one()
    return as_utc(found) if found is not None else None


def window_open(session: Session, phone: str, now: datetime) -> bool:
    """Inside WhatsApp's 24-hour window the respondent's last message opened."""
    last = last_inbound(session, phone)
    return last is not None and now - last < timedelta(hours=float(settings()["window_hours"]))


def open_for(session: Session, phone: str, now: datetime) -> list[AgentConversation]:
    """The number's open conversations, one per institution (created when missing)."""
    existing = list(session.exec(select(AgentConversation).where(
        AgentConversation.phone == phone, AgentConversation.status == "open")).all())
    have = {c.institution_id for c in existing}
    wanted: list[int | None] = list(institutions_of(session, phone)) or [None]
    for institution_id in wanted:
        if institution_id not in have:
            conv = AgentConversation(phone=phone, institution_id=institution_id, opened_at=now)
            session.add(conv)
            existing.append(conv)
    record_for_phone(session, phone, now)
    return existing


def has_open(session: Session, phone: str) -> bool:
    return session.exec(select(AgentConversation.id).where(
        AgentConversation.phone == phone, AgentConversation.status == "open")).first() is not None


def note_inbound(session: Session, phone: str, now: datetime) -> list[AgentConversation]:
    """A respondent message for the agents: the conversations' unread count goes up."""
    convs = open_for(session, phone, now)
    for conv in convs:
        conv.unread += 1
        conv.last_in_at = now
        session.add(conv)
    return convs


@dataclass(frozen=True)
class Line:
    at: datetime
    direction: str  # in, out
    body: str
    by_agent: bool


def history(session: Session, conv: AgentConversation, limit: int = 200) -> list[Line]:
    """The number's conversation log (links redacted), concerning this institution or every one."""
    query = select(ConversationEntry).where(ConversationEntry.phone == conv.phone)
    if conv.institution_id is not None:
        query = query.where((col(ConversationEntry.institution_id) == conv.institution_id)
                            | col(ConversationEntry.institution_id).is_(None))
    rows = session.exec(query.order_by(col(ConversationEntry.at).desc(), col(ConversationEntry.id).desc())
                        .limit(limit)).all()
    return [Line(as_utc(r.at), r.direction, r.body, r.intent == "agent")  # type: ignore[arg-type]
            for r in reversed(rows)]


def canned() -> list[replies.Topic]:
    """Canned answers: the FAQ file's topics."""
    return list(replies.faq_topics())


def canned_text(key: str) -> str | None:
    topic = next((t for t in canned() if t.key == key), None)
    return replies.faq_answer(topic, None) if topic else None


def _sent(session: Session, conv: AgentConversation, body: str, now: datetime) -> None:
    # here, not at the top: bot.service imports bot.handlers, which imports this module (cycle)
    from bot.service import redact_links

    session.add(ConversationEntry(at=now, phone=conv.phone, direction="out", body=redact_links(body),
                                  intent="agent", institution_id=conv.institution_id))
    if conv.first_response_at is None:
        conv.first_response_at = now
    conv.unread = 0
    session.add(conv)


def reply(session: Session, conv: AgentConversation, body: str, *, agent: str,
          now: datetime | None = None) -> None:
    """Send an agent's free-form reply; raises ReplyRefused (empty, closed, window closed)."""
    now = now or utcnow()
    refusals = settings()["refusals"]
    text = (body or "").strip()
    if not text:
        raise ReplyRefused(refusals["empty"])
    if conv.status != "open":
        raise ReplyRefused(refusals["closed"])
    if not window_open(session, conv.phone, now):
        last = last_inbound(session, conv.phone)
        tz = settings()["hours"]["timezone"]
        raise ReplyRefused(refusals["window_closed"].format(
            last=format_datetime_id(last, tz) if last else "-"))
    n = session.exec(select(func.count()).select_from(ConversationEntry).where(
        ConversationEntry.phone == conv.phone, ConversationEntry.intent == "agent")).one()
    enqueue_reply(session, to=conv.phone, body=text, key=f"agent:{conv.id}:{int(n) + 1}")
    _sent(session, conv, text, now)


def send_template(session: Session, conv: AgentConversation, *, agent: str,
                  now: datetime | None = None) -> int:
    """Outside the window: the approved template carrying the respondent's survey link."""
    now = now or utcnow()
    open_ = [s for s in surveys_of(session, conv.phone, now) if s.state == OPEN
             and (conv.institution_id is None or s.institution_id == conv.institution_id)]
    if not open_:
        raise ReplyRefused(settings()["refusals"]["no_template"])
    n = enqueue_link(session, open_[0].assignment, purpose="registration")
    _sent(session, conv, "[templat yang disetujui: tautan survei]", now)
    return n


def mark_read(session: Session, conv: AgentConversation) -> None:
    if conv.unread:
        conv.unread = 0
        session.add(conv)


@dataclass(frozen=True)
class AgentFigures:
    agent_id: int | None
    open: int
    unread: int
    answered: int
    median_first_response_minutes: float | None
    target_minutes: float


def figures(convs: list[AgentConversation]) -> list[AgentFigures]:
    """Per agent (None: unassigned): open conversations, unread messages, first-response time."""
    target = float(settings()["first_response_target_minutes"])
    by: dict[int | None, list[AgentConversation]] = {}
    for conv in convs:
        by.setdefault(conv.agent_id, []).append(conv)
    out = []
    for agent_id, items in sorted(by.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        waits = sorted((as_utc(c.first_response_at) - as_utc(c.opened_at)).total_seconds() / 60
                       for c in items if c.first_response_at and c.opened_at)
        median = waits[len(waits) // 2] if waits else None
        out.append(AgentFigures(agent_id, sum(c.status == "open" for c in items),
                                sum(c.unread for c in items), len(waits), median, target))
    return out
