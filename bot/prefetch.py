"""What deciding a batch of inbound messages needs about its numbers, read once per batch.

Deciding one message used to read its number's conversation state (an INSERT ... ON CONFLICT DO
NOTHING, then a SELECT) and count its messages of the last minute (the rate limit): three
statements per message, a third of the CPU of deciding. A batch holds at most one message per
number (see `service._pending_query`), so nothing a decision writes is read by another decision
of the same batch: the states and the recent arrival times of all the batch's numbers are read
with three statements per batch instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.lookup import phone_of
from bot.models import ConversationState, InboundMessage
from core.clock import as_utc, utcnow
from core.db import insert_for

WINDOW = timedelta(minutes=1)  # the rate limit counts a number's messages of the last minute


@dataclass
class BatchContext:
    states: dict[str, ConversationState] = field(default_factory=dict)
    arrivals: dict[str, list[datetime]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, inbounds: Sequence[InboundMessage]) -> BatchContext:
        first: dict[str, datetime] = {}
        for inbound in inbounds:
            phone = phone_of(inbound.from_number)
            if phone is not None:
                first.setdefault(phone, as_utc(inbound.received_at) if inbound.received_at else utcnow())
        if not first:
            return cls()
        session.exec(insert_for(session, ConversationState).values(
            [{"phone": p, "mode": "", "options": [], "updated_at": at} for p, at in first.items()]
        ).on_conflict_do_nothing(index_elements=["phone"]))
        states = session.exec(select(ConversationState)
                              .where(col(ConversationState.phone).in_(list(first)))).all()
        since = min(first.values()) - WINDOW
        arrivals: dict[str, list[datetime]] = defaultdict(list)
        for phone, at in session.exec(
            select(InboundMessage.from_number, InboundMessage.received_at)
            .where(col(InboundMessage.from_number).in_(list(first)),
                   col(InboundMessage.received_at) > since)
        ).all():
            if at is not None:
                arrivals[phone].append(as_utc(at))
        return cls({s.phone: s for s in states}, dict(arrivals))

    def recent(self, phone: str, now: datetime) -> int:
        """The number's messages received after `now` minus one minute (as `_over_limit` counts)."""
        return sum(1 for at in self.arrivals.get(phone, ()) if at > now - WINDOW)
