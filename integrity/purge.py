"""Remove the contact data of a closed campaign after the retention period (UU 27/2022).

Removed: name, phone, email, position and company of the campaign's people (unless the same
person row belongs to a campaign not yet purged), the addresses and payloads of the campaign's
outbox messages, and the bot's conversation texts, inbound messages and state of those phone
numbers (unless the number is still on someone else's record). Kept: responses, scores, aggregate
counts, opt-outs (so nobody who said STOP is ever messaged again) and the audit log.

Refused, with a message saying why and when, unless the campaign is closed and RETENTION_DAYS
have passed since it closed. The whole purge is one transaction: all of it or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.models import ConversationEntry, ConversationState, InboundMessage, IntentEvent
from core import audit
from core.clock import as_utc, format_date_id, utcnow
from core.config import get_settings
from core.errors import SpibotError
from core.masking import mask_phone
from core.models import Assignment, Campaign, Person
from dispatch.models import Outbox, Unreachable

CHUNK = 500


class PurgeRefused(SpibotError):
    """The campaign may not be purged (yet); the message says why and what to do."""


@dataclass
class PurgeResult:
    campaign_id: int
    people: int
    people_kept: int  # also in a campaign not yet purged
    outbox_rows: int
    conversation_rows: int
    inbound_rows: int
    bot_states: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(values: Sequence[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(values), CHUNK):
        yield list(values[i:i + CHUNK])


def check_purgeable(campaign: Campaign | None, campaign_id: int, now: datetime) -> Campaign:
    if campaign is None:
        raise PurgeRefused(f"Campaign {campaign_id} does not exist (see `spibot campaign list`).")
    if campaign.status == "purged":
        raise PurgeRefused(f"Campaign {campaign_id} was already purged.")
    if campaign.status != "closed":
        raise PurgeRefused(
            f"Campaign {campaign_id} is '{campaign.status}', not closed: contact data is only "
            "removed from a closed campaign. Close it first.")
    assert campaign.closes_at is not None
    until = as_utc(campaign.closes_at) + timedelta(days=get_settings().retention_days)
    if now < until:
        raise PurgeRefused(
            f"Campaign {campaign_id} is within its retention period until {format_date_id(until)} "
            f"(RETENTION_DAYS={get_settings().retention_days} after closing). Try again after that "
            "date, or change RETENTION_DAYS if your data-protection officer agrees.")
    return campaign


def _people(session: Session, campaign_id: int) -> tuple[list[int], int]:
    """Person ids to purge, and how many are kept because another live campaign uses them."""
    ids = set(session.exec(select(Assignment.person_id).where(Assignment.campaign_id == campaign_id)).all())
    live = set(session.exec(
        select(Assignment.person_id).join(Campaign, col(Campaign.id) == Assignment.campaign_id)
        .where(Assignment.campaign_id != campaign_id, Campaign.status != "purged")
    ).all())
    return sorted(ids - live), len(ids & live)


def _addresses(session: Session, person_ids: list[int]) -> tuple[set[str], set[str]]:
    phones: set[str] = set()
    emails: set[str] = set()
    for chunk in _chunks(person_ids):
        for phone, email in session.exec(select(Person.phone, Person.email).where(col(Person.id).in_(chunk))):
            if phone:
                phones.add(phone)
            if email:
                emails.add(email.lower())
    return phones, emails


def _still_used(session: Session, person_ids: list[int], phones: set[str]) -> set[str]:
    """Phones that also appear on a person row we are not purging (another institution/campaign)."""
    used: set[str] = set()
    for chunk in _chunks(sorted(phones)):
        rows = session.exec(select(Person.id, Person.phone).where(col(Person.phone).in_(chunk))).all()
        used |= {p for pid, p in rows if p and pid not in set(person_ids)}
    return used


def _purge_people(session: Session, person_ids: list[int]) -> None:
    for chunk in _chunks(person_ids):
        session.exec(update(Person).where(col(Person.id).in_(chunk)).values(
            name="", phone=None, email=None, position=None, organisation=None, source_row=None))


def _purge_outbox(session: Session, campaign_id: int, addresses: set[str]) -> int:
    result = session.exec(update(Outbox).where(col(Outbox.campaign_id) == campaign_id).values(
        to_address="", payload={}, error_message=None))
    for chunk in _chunks(sorted(addresses)):
        session.exec(delete(Unreachable).where(col(Unreachable.address).in_(chunk)))
    return int(result.rowcount or 0)


def _purge_bot(session: Session, phones: set[str]) -> tuple[int, int, int]:
    conv = inbound = states = 0
    for chunk in _chunks(sorted(phones)):
        conv += int(session.exec(delete(ConversationEntry).where(
            col(ConversationEntry.phone).in_(chunk))).rowcount or 0)
        states += int(session.exec(delete(ConversationState).where(
            col(ConversationState.phone).in_(chunk))).rowcount or 0)
        for phone in chunk:  # keep counts for the dashboard, not the number or the text
            masked = mask_phone(phone)
            inbound += int(session.exec(update(InboundMessage).where(
                InboundMessage.from_number == phone).values(from_number=masked, body="")).rowcount or 0)
            session.exec(update(IntentEvent).where(IntentEvent.phone == phone).values(phone=masked))
    return conv, inbound, states


def purge_campaign(session: Session, campaign_id: int, actor: str,
                   now: datetime | None = None) -> PurgeResult:
    """Purge one campaign's contact data (see the module docstring). Raises PurgeRefused."""
    now = now or utcnow()
    campaign = check_purgeable(session.get(Campaign, campaign_id), campaign_id, now)
    person_ids, kept = _people(session, campaign_id)
    phones, emails = _addresses(session, person_ids)
    phones -= _still_used(session, person_ids, phones)
    outbox = _purge_outbox(session, campaign_id, phones | emails)
    conv, inbound, states = _purge_bot(session, phones)
    _purge_people(session, person_ids)
    campaign.status = "purged"
    session.add(campaign)
    result = PurgeResult(campaign_id, len(person_ids), kept, outbox, conv, inbound, states)
    audit.record(session, actor, "campaign.purge", institution_id=campaign.institution_id,
                 target=f"campaign:{campaign_id}", details=result.as_dict())
    session.flush()
    return result
