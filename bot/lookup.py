"""What the bot knows about a WhatsApp number: its assignments (open, submitted, closed...)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from core.assignments import link_of
from core.clock import as_utc
from core.labels import label
from core.models import CLOSED_STATUSES, Assignment, Campaign, Institution, Person, Unit

E164 = re.compile(r"^\+[1-9]\d{6,14}$")

OPEN = "open"
SUBMITTED = "submitted"
CLOSED = "closed"
NOT_OPEN = "not_open"


def phone_of(address: str | None) -> str | None:
    """'whatsapp:+62812...' -> '+62812...' when it is a valid E.164 number, else None."""
    if not address:
        return None
    value = address.strip().removeprefix("whatsapp:").strip()
    return value if E164.match(value) else None


@dataclass(frozen=True)
class Survey:
    """One assignment of a number, as the bot talks about it."""

    assignment_id: int
    campaign_id: int
    institution_id: int
    institution: str
    unit: str | None
    group: str
    person_name: str
    state: str  # open, submitted, closed, not_open
    opens_at: datetime
    closes_at: datetime
    timezone: str
    assignment: Assignment

    @property
    def role(self) -> str:
        return label("role", self.group)

    def link(self) -> str:
        return link_of(self.assignment)


def _state(assignment: Assignment, campaign: Campaign, now: datetime) -> str:
    assert campaign.opens_at and campaign.closes_at
    if assignment.responded_at is not None:
        return SUBMITTED
    if campaign.status in CLOSED_STATUSES or now >= as_utc(campaign.closes_at):
        return CLOSED
    if campaign.status == "draft" or now < as_utc(campaign.opens_at):
        return NOT_OPEN
    return OPEN


def surveys_of(session: Session, phone: str, now: datetime) -> list[Survey]:
    """Every active assignment of every person with this phone, newest campaign first."""
    # SQLModel's select() is typed for at most 4 entities, SQLAlchemy's for up to 10
    rows: Sequence[tuple[Assignment, Person, Campaign, Institution, Unit | None]] = session.execute(
        sa_select(Assignment, Person, Campaign, Institution, Unit)
        .join(Person, col(Person.id) == col(Assignment.person_id))
        .join(Campaign, col(Campaign.id) == col(Assignment.campaign_id))
        .join(Institution, col(Institution.id) == col(Campaign.institution_id))
        .outerjoin(Unit, col(Unit.id) == col(Assignment.unit_id))
        .where(col(Person.phone) == phone, col(Assignment.active) == True)  # noqa: E712
    ).all()
    surveys = [
        Survey(
            assignment_id=a.id,  # type: ignore[arg-type]
            campaign_id=c.id,  # type: ignore[arg-type]
            institution_id=i.id,  # type: ignore[arg-type]
            institution=i.name,
            unit=u.name if u else None,
            group=a.group,
            person_name=p.name,
            state=_state(a, c, now),
            opens_at=as_utc(c.opens_at),  # type: ignore[arg-type]
            # closed early by a person: the day it closed, not the planned one
            closes_at=min(as_utc(c.closes_at), as_utc(c.closed_at or c.closes_at)),  # type: ignore[arg-type]
            timezone=i.timezone,
            assignment=a,
        )
        for a, p, c, i, u in rows
    ]
    surveys.sort(key=lambda s: (-s.closes_at.timestamp(), s.institution, s.unit or "", s.assignment_id))
    return surveys


def institutions_of(session: Session, phone: str) -> list[int]:
    ids = session.exec(
        select(Person.institution_id).where(Person.phone == phone).distinct()
    ).all()
    return sorted(set(ids))


def open_registrations(session: Session, now: datetime, limit: int = 3) -> list[Institution]:
    """Institutions with an open campaign and participatory registration, for unknown numbers.

    Several institutions share the SPI number, so an unknown number cannot be placed; offering
    more than a handful of links would not help anyone, so none are offered then.
    """
    rows = session.exec(
        select(Institution, Campaign)
        .join(Campaign, Campaign.institution_id == Institution.id)  # type: ignore[arg-type]
        .where(Institution.registration_enabled == True, Campaign.status == "open")  # noqa: E712
    ).all()
    found: dict[int, Institution] = {}
    for inst, camp in rows:
        if camp.is_open(now):
            found[inst.id] = inst  # type: ignore[index]
    if len(found) > limit:
        return []
    return sorted(found.values(), key=lambda i: i.name)
