"""Participatory registration and the guest book: the services behind the QR codes.

Registration rules:
- one *active* registration per phone number per campaign. A number that already has an active
  assignment in the campaign (registered or sampled) still gets a questionnaire that opens at
  once, exactly like a new number, so the response never shows whether a number is known; that
  second registration is stored inactive (person excluded, reason `duplicate_phone`), so it
  never counts, and the number's own link is re-sent to the number itself;
- the campaign must be open (not yet open and closed campaigns say so).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import text
from sqlmodel import Session, col, select

from core.assignments import create_assignment
from core.clock import as_utc, local, utcnow
from core.db import is_sqlite
from core.models import (
    CLOSED_STATUSES,
    Assignment,
    AssignmentKind,
    Campaign,
    Group,
    Institution,
    Person,
    PersonStatus,
    Unit,
)
from population import is_excluded_unit
from qr.notify import send_link
from qr.validation import VisitorForm

DUPLICATE_PHONE = "duplicate_phone"
COUNTER_FLAG = "loket:"  # a guest-book entry's flag naming its counter: "loket:<name>"


class CampaignState(StrEnum):
    none = "none"
    not_open = "not_open"
    open = "open"
    closed = "closed"


def current_campaign(session: Session, institution_id: int) -> Campaign | None:
    """The institution's latest campaign (by opening time), whatever its state."""
    query = (
        select(Campaign)
        .where(Campaign.institution_id == institution_id)
        .order_by(col(Campaign.opens_at).desc(), col(Campaign.id).desc())
    )
    return session.exec(query).first()


def campaign_state(campaign: Campaign | None, at: datetime | None = None) -> CampaignState:
    if campaign is None:
        return CampaignState.none
    now = at or utcnow()
    assert campaign.opens_at and campaign.closes_at
    if campaign.status in CLOSED_STATUSES or now >= as_utc(campaign.closes_at):
        return CampaignState.closed
    if campaign.status == "draft" or now < as_utc(campaign.opens_at):
        return CampaignState.not_open
    return CampaignState.open


def closing_day(campaign: Campaign, tz: str) -> date:
    """The last local day of the campaign (a close at 00:00 means the day before)."""
    assert campaign.closes_at
    return local(campaign.closes_at - timedelta(seconds=1), tz).date()


def local_today(institution: Institution) -> date:
    return local(utcnow(), institution.timezone).date()


def find_institution(session: Session, code: str) -> Institution | None:
    if not code or len(code) > 40:
        return None
    return session.exec(select(Institution).where(Institution.code == code)).first()


def find_unit(session: Session, institution: Institution, code: str) -> Unit | None:
    """A unit of the institution that serves the public (only those have posters)."""
    if not code or len(code) > 60:
        return None
    unit = session.exec(
        select(Unit).where(Unit.institution_id == institution.id, Unit.code == code)
    ).first()
    return unit if unit is not None and unit.serves_public else None


def public_units(session: Session, institution_id: int) -> list[Unit]:
    query = select(Unit).where(Unit.institution_id == institution_id, col(Unit.serves_public))
    return sorted(session.exec(query).all(), key=lambda u: (u.name.lower(), u.code))


def known_counter(unit: Unit, counter: str | None) -> str | None:
    """The counter code if the unit has it; unknown codes (typed by hand) count as none."""
    return counter if counter and counter in (unit.counters or []) else None


def _phone_key(campaign_id: int, phone: str) -> int:
    return int.from_bytes(hashlib.sha256(f"qr|{campaign_id}|{phone}".encode()).digest()[:8],
                          "big", signed=True)


def _lock_phones(session: Session, campaign_id: int, phones: list[str]) -> None:
    """Serialise registrations of these numbers in one campaign (SQLite: BEGIN IMMEDIATE does).
    Locks are taken in key order, so two transactions locking several numbers cannot deadlock."""
    if is_sqlite(session) or not phones:
        return
    keys = sorted({_phone_key(campaign_id, p) for p in phones})
    session.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                         "WITH ORDINALITY AS t(k, n) ORDER BY n"), {"keys": keys})


def active_assignment_of_phone(session: Session, campaign_id: int, phone: str) -> Assignment | None:
    return active_assignments_of_phones(session, campaign_id, [phone]).get(phone)


def active_assignments_of_phones(session: Session, campaign_id: int,
                                 phones: list[str]) -> dict[str, Assignment]:
    """phone -> its active assignment in the campaign, for those of `phones` that have one.

    Two single-table look-ups, the people by number (the phone index) and then their
    assignments in the campaign, rather than one join: on tables without fresh statistics
    (a new campaign, before autovacuum's ANALYZE) PostgreSQL planned the join from the
    campaign's assignments, reading every registration of the campaign for each batch (~9 ms
    a batch at 12,000 rows, growing; PostgreSQL CPU per registration POST 0.65 -> 0.28 ms in
    bench/posters.py). A new number, the usual case, costs the first look-up only."""
    if not phones:
        return {}
    people: dict[int, str] = {
        int(person_id): str(phone) for person_id, phone in session.execute(
            select(Person.id, Person.phone).where(col(Person.phone).in_(sorted(set(phones)))))
    }
    if not people:
        return {}
    query = select(Assignment).where(
        Assignment.campaign_id == campaign_id, col(Assignment.active),
        col(Assignment.person_id).in_(sorted(people)))
    found: dict[str, Assignment] = {}
    for assignment in session.exec(query).all():
        found.setdefault(people[assignment.person_id], assignment)
    return found


def lock_and_find_phones(session: Session, campaign_id: int,
                         phones: list[str]) -> dict[str, Assignment]:
    """Lock the numbers (PostgreSQL) and return their active assignments in the campaign; pass
    the result to `register(..., known=...)` for each of them, in this transaction."""
    _lock_phones(session, campaign_id, phones)
    return active_assignments_of_phones(session, campaign_id, phones)


def register(
    session: Session,
    *,
    campaign: Campaign,
    unit: Unit,
    counter: str | None,
    form: VisitorForm,
    known: dict[str, Assignment] | None = None,
) -> Assignment:
    """Create the participatory respondent and assignment; return the assignment whose
    questionnaire the browser opens. Call inside a write transaction.

    `known`: from `lock_and_find_phones` over a batch's numbers in this transaction (kept up to
    date here as the batch registers); without it the number is locked and looked up now."""
    assert form.phone, "registration needs a WhatsApp number"
    assert campaign.id is not None
    if known is None:
        known = lock_and_find_phones(session, campaign.id, [form.phone])
    existing = known.get(form.phone)
    person = _service_user(
        unit, form, source="registration",
        status=PersonStatus.excluded if existing else PersonStatus.eligible,
        reason=DUPLICATE_PHONE if existing else None, flags=["participatory"],
    )
    session.add(person)
    session.flush()
    assignment = create_assignment(
        session, campaign, person, kind=AssignmentKind.participatory, counter=counter,
        active=existing is None,
    )
    session.flush()
    if existing is None:
        known[form.phone] = assignment
    send_link(session, existing or assignment)
    return assignment


def add_guestbook_entry(session: Session, *, unit: Unit, form: VisitorForm,
                        counter: str | None = None) -> Person:
    """Add a service user to the unit's population list for the next draw (with the counter
    whose poster they came from as a flag `loket:<name>`, for the counts per counter)."""
    person = _service_user(unit, form, source="guestbook", status=PersonStatus.eligible,
                           flags=[COUNTER_FLAG + counter] if counter else None)
    _judge(session, person)
    session.add(person)
    session.flush()
    return person


def _service_user(
    unit: Unit, form: VisitorForm, *, source: str, status: str, reason: str | None = None,
    flags: list[str] | None = None,
) -> Person:
    """A service user as the registration page and the guest book record them."""
    return Person(
        institution_id=unit.institution_id, unit_id=unit.id, group=Group.external,
        name=form.name, phone=form.phone, email=form.email, service_name=form.service,
        service_date=form.service_date, source=source, status=status, reason=reason,
        flags=flags or [], created_at=utcnow(),
    )


def _judge(session: Session, person: Person) -> None:
    """The population package's verdicts for a service user (same reason codes): unusable
    without contact; excluded when the unit is outside the sampling (`excluded_unit`) or the
    user is one of the institution's own employees (`is_employee`). The form already refuses
    service dates outside the last 12 months."""
    if not person.phone and not person.email:
        person.status, person.reason = PersonStatus.unusable, "no_contact"
        return
    unit = session.get(Unit, person.unit_id) if person.unit_id else None
    if unit is not None and is_excluded_unit(unit.name):
        person.status, person.reason = PersonStatus.excluded, "excluded_unit"
        return
    contacts = [c for c in (person.phone, person.email) if c]
    employee = session.exec(
        select(Person.id).where(
            Person.institution_id == person.institution_id, Person.group == Group.internal,
            col(Person.phone).in_(contacts) | col(Person.email).in_(contacts),
        )
    ).first()
    if employee is not None:
        person.status, person.reason = PersonStatus.excluded, "is_employee"

