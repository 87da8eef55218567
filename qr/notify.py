"""Sending a registrant their personal link, through the dispatch package when it is there.

Registration must never fail because sending failed: the questionnaire already opens in the
browser, and "Isi Survei" on WhatsApp re-sends the link later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from core.clock import utcnow
from core.models import Assignment, Campaign, Institution, OptOut, Person, Unit

log = logging.getLogger(__name__)


def send_link(session: Session, assignment: Assignment) -> bool:
    """Enqueue the personal link (WhatsApp/email) in the caller's transaction; False if not."""
    try:
        from dispatch.service import enqueue_link  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("dispatch.service.enqueue_link not available: registration link not sent")
        return False
    try:
        with session.begin_nested():  # a failure here must not undo the registration
            enqueue_link(session, assignment, purpose="registration")
    except Exception:  # noqa: BLE001 - any sending problem is logged, never shown to the citizen
        log.exception("could not enqueue the registration link of assignment %s", assignment.id)
        return False
    return True


@dataclass(frozen=True)
class NewLink:
    """A registration written in this batch whose personal link is to be sent."""

    assignment_id: int
    unit: Unit | None
    group: str
    name: str
    phone: str | None
    email: str | None
    nonce: str


def send_links(session: Session, campaign: Campaign, institution: Institution,
               links: list[NewLink]) -> int:
    """Enqueue the personal links of a batch of new registrations in one INSERT, in the caller's
    transaction; the rows are those `dispatch.service.enqueue_link` writes for each (tested
    against it): WhatsApp and/or email, opted-out and unreachable addresses left out, templates
    validated once per channel (as dispatch does for a bulk chunk). A failure is logged and the
    registrations stand. (A batch `enqueue_links` in dispatch would be the better home.)"""
    if not links:
        return 0
    try:
        from dispatch import content  # type: ignore[import-not-found,unused-ignore]
        from dispatch.models import Lane, Outbox, Unreachable  # type: ignore[import-not-found,unused-ignore]
        from dispatch.service import message_key, sender_for  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("dispatch package not available: registration links not sent")
        return 0
    try:
        with session.begin_nested():  # a failure here must not undo the registrations
            purpose = "registration"
            template = content.TEMPLATE_OF_PURPOSE.get(purpose, "registration")
            addresses = {a for link in links for a in (link.phone, _email(link)) if a}
            blocked = set(session.execute(
                select(OptOut.address).where(col(OptOut.address).in_(addresses))).scalars())
            blocked |= set(session.execute(
                select(Unreachable.address).where(col(Unreachable.address).in_(addresses))
            ).scalars())
            now = utcnow()
            validated: set[str] = set()
            rows: list[dict[str, Any]] = []
            for link in links:
                # only the name is read from the person: a stand-in, not an ORM object
                # (building a Person costs ~0.5 ms in SQLModel's constructor)
                variables = content.respondent_variables(
                    cast(Person, SimpleNamespace(name=link.name)), link.unit, institution,
                    campaign)
                for channel, address in (("whatsapp", link.phone), ("email", _email(link))):
                    if not address or address in blocked:
                        continue
                    if channel not in validated:
                        content.validate(channel, template, variables)
                        validated.add(channel)
                    rows.append({
                        "key": message_key(purpose, 1, link.assignment_id, channel),
                        "lane": Lane.reply, "channel": channel, "purpose": purpose, "wave": 1,
                        "to_address": address, "sender": sender_for(channel, link.group, campaign),
                        "tz": institution.timezone,
                        "payload": {"template": template, "vars": variables, "nonce": link.nonce},
                        "status": "pending", "attempts": 0, "next_attempt_at": now,
                        "created_at": now, "updated_at": now, "campaign_id": campaign.id,
                        "assignment_id": link.assignment_id,
                        "unit_id": link.unit.id if link.unit else None,
                        "institution_id": institution.id, "fallback_of": None,
                    })
            if not rows:
                return 0
            table = Outbox.__table__  # type: ignore[attr-defined]
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            session.execute(insert(table).on_conflict_do_nothing(index_elements=["key"]), rows)
    except Exception:  # noqa: BLE001 - any sending problem is logged, never shown to the citizen
        log.exception("could not enqueue the links of %d registrations", len(links))
        return 0
    return len(rows)


def _email(link: NewLink) -> str | None:
    return link.email.lower() if link.email else None
