"""Remove the personal data of a closed campaign's population after the retention period
(UU 27/2022: kept only as long as the survey needs it).

**Whose data.** The campaign's population: every person of its institution sampled, held in
reserve or registered in it, and every person of its lists who was never sampled anywhere
(guest-book entries and unsampled rows of the population lists) and was added before the campaign
closed. A person is kept when another campaign not yet purged still uses them: they have an
assignment in it, or (for those never sampled) their institution has a campaign still open or in
draft, which may still draw from its lists. A number or email is kept while a person who is kept
has it.

**What.** Every column marked personal on the models (`core.models.personal()`, the census in
tests/integrity/test_personal_data_census.py) is covered by `COVERAGE`: names, numbers, emails,
positions, companies and services of people; outbox addresses, payloads and error texts (the
campaign's messages and any other message to a purged address, bot replies included); the bot's
conversation lines and state (deleted), inbound messages (number masked, text blanked) and intent
events (number masked); unreachable addresses and the messaging-limit ledger (deleted); respondent
cases, call-centre conversations and opt-in proofs (deleted, issue 25). Kept:
opt-outs (a person's request to be left alone is honoured for good: dropping it could make us
message them again), answers and scores (stored apart from identity, `response` has no contact
column and its answers are choices, not free text), integrity reviews, aggregate counts and the
audit log. spibot writes no spool or export file with personal data to disk (exports are built
in memory and streamed), so there is no file to remove.

Refused, with a message saying why and when, unless the campaign has closed (closed or archived,
or open past its closing date: then it is closed first, as the scheduler would) and
RETENTION_DAYS have passed since it closed. The whole purge is one transaction; its report (rows
per table) goes to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, delete, exists, or_, update
from sqlmodel import Session, col, select

from bot import (
    AgentConversation,
    ContactConsent,
    ConversationEntry,
    ConversationState,
    InboundMessage,
    IntentEvent,
    RespondentCase,
)
from core import audit
from core.campaigns import close_if_due, closed_on, has_ended, mark_purged, purge_due
from core.clock import format_date_id, utcnow
from core.config import get_settings
from core.errors import SpibotError
from core.masking import mask_phone
from core.models import Assignment, Campaign, CampaignStatus, OptOut, Person
from dispatch import Outbox, Status, Unreachable, WhatsAppReach

CHUNK = 500
REDACTED = "[dihapus]"

# Every personal column ("table.column") and what the purge does to it; the census test fails when
# a column marked personal is missing here (or an entry names no marked column).
COVERAGE: dict[str, str] = {
    "person.name": "blanked",
    "person.phone": "blanked",
    "person.email": "blanked",
    "person.position": "blanked",
    "person.service_name": "blanked",
    "person.organisation": "blanked",
    "outbox.to_address": "blanked (the campaign's messages and any message to a purged address)",
    "outbox.payload": "blanked",
    "outbox.error_message": "blanked",
    "dispatch_unreachable.address": "deleted",
    "dispatch_wa_reach.address": "deleted",
    "bot_inbound.from_number": "masked",
    "bot_inbound.body": "blanked",
    "bot_conversation.phone": "deleted (the line)",
    "bot_conversation.body": "deleted (the line)",
    "bot_state.phone": "deleted",
    "bot_intent_event.phone": "masked",
    "optout.address": "kept: a request to stop is honoured for good (never message them again)",
    "bot_case.phone": "deleted (the case: the campaign's, and any of a purged number)",
    "bot_case.correction": "deleted (the case)",
    "bot_case.note": "deleted (the case)",
    "bot_agent_conversation.phone": "deleted (the conversation of a purged number)",
    "bot_consent.address": "deleted (the opt-in proof of a purged person or number)",
}
KEPT = frozenset({"optout.address"})

# Columns named like contact data, in models this module may not mark, that hold none of a
# respondent's: declared here instead of on Column.info.
NOT_PERSONAL: dict[str, str] = {
    "monitor_user.name": "a dashboard user (PIC, admin), not a respondent; removed with the account",
    "qr_counter.name": "a service counter's (loket's) name",
}


def personal_columns(metadata: MetaData) -> list[str]:
    """Every "table.column" whose Column.info marks it personal."""
    return sorted(f"{t.name}.{c.name}" for t in metadata.sorted_tables for c in t.columns
                  if c.info.get("personal") is True)


def uncovered(metadata: MetaData) -> list[str]:
    """Personal columns the purge does not cover (must be empty)."""
    return [name for name in personal_columns(metadata) if name not in COVERAGE]


class PurgeRefused(SpibotError):
    """The campaign may not be purged (yet); the message says why and what to do."""


@dataclass
class PurgeResult:
    campaign_id: int
    people: int
    people_kept: int  # still used by a campaign not yet purged
    outbox_rows: int
    conversation_rows: int
    inbound_rows: int
    bot_states: int
    optouts_kept: int = 0
    tables: dict[str, int] = field(default_factory=dict)  # rows changed or deleted per table

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(values: Sequence[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(values), CHUNK):
        yield list(values[i:i + CHUNK])


def check_purgeable(campaign: Campaign | None, campaign_id: int, now: datetime) -> Campaign:
    if campaign is None:
        raise PurgeRefused(f"Campaign {campaign_id} does not exist (see `spibot campaign list`).")
    if campaign.status == CampaignStatus.purged:
        raise PurgeRefused(f"Campaign {campaign_id} was already purged.")
    if not has_ended(campaign, now):
        raise PurgeRefused(
            f"Campaign {campaign_id} is '{campaign.status}', not closed: contact data is only "
            "removed from a closed campaign. Close it first (`spibot campaign close`).")
    until = purge_due(campaign)  # RETENTION_DAYS after it closed (its closing date if by date)
    if now < until:
        raise PurgeRefused(
            f"Campaign {campaign_id} is within its retention period until {format_date_id(until)} "
            f"(RETENTION_DAYS={get_settings().retention_days} after closing). Try again after that "
            "date, or change RETENTION_DAYS if your data-protection officer agrees.")
    return campaign


def _population(session: Session, campaign: Campaign) -> tuple[list[int], int]:
    """Person ids to purge, and how many of the population are kept (see the module docstring)."""
    cid = campaign.id
    assigned = sorted(set(session.exec(select(Assignment.person_id).where(Assignment.campaign_id == cid)).all()))
    kept: set[int] = set()
    for chunk in _chunks(assigned):
        kept |= set(session.exec(
            select(Assignment.person_id).join(Campaign, col(Campaign.id) == Assignment.campaign_id)
            .where(col(Assignment.person_id).in_(chunk), Assignment.campaign_id != cid,
                   Campaign.status != CampaignStatus.purged)).all())
    never_sampled = set(session.exec(select(Person.id).where(
        Person.institution_id == campaign.institution_id,
        ~exists().where(col(Assignment.person_id) == col(Person.id)),
        or_(col(Person.created_at).is_(None), col(Person.created_at) <= closed_on(campaign)),
    )).all())
    sibling_open = session.exec(select(Campaign.id).where(
        Campaign.institution_id == campaign.institution_id, Campaign.id != cid,
        col(Campaign.status).in_([CampaignStatus.draft, CampaignStatus.open]))).first()
    purge = set(assigned) - kept
    if sibling_open is not None:
        kept |= {p for p in never_sampled if p is not None}
    else:
        purge |= {p for p in never_sampled if p is not None}
    return sorted(purge), len(kept)


def _addresses(session: Session, person_ids: list[int]) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """The numbers and emails (as stored, and lower-cased) of these people that no other person
    row still has (a person kept, of this or another institution); and for each number that one
    still has (a family's phone), the purged people's names and emails, to redact from its texts."""
    phones: set[str] = set()
    emails: set[str] = set()
    words: dict[str, set[str]] = {}
    for chunk in _chunks(person_ids):
        for phone, email, name in session.exec(
                select(Person.phone, Person.email, Person.name).where(col(Person.id).in_(chunk))):
            if phone:
                phones.add(phone)
                words.setdefault(phone, set()).update(w for w in (name, email) if w and len(w) >= 3)
            if email:
                emails.add(email)
    purged = set(person_ids)
    for column, values in ((Person.phone, phones), (Person.email, emails)):
        for chunk in _chunks(sorted(values)):
            rows = session.exec(select(Person.id, column).where(col(column).in_(chunk))).all()
            values -= {v for pid, v in rows if v and pid not in purged}
    shared = {phone: found for phone, found in words.items() if phone not in phones and found}
    return phones, emails | {e.lower() for e in emails}, shared


def _redacted(value: Any, words: set[str]) -> Any:
    if isinstance(value, str):
        for word in sorted(words, key=len, reverse=True):
            value = value.replace(word, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _redacted(v, words) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, words) for v in value]
    return value


def _redact_shared(session: Session, shared: dict[str, set[str]]) -> int:
    """A number kept for someone else keeps its conversation, without the purged people's names
    and emails in its texts (bot log, inbound messages, replies)."""
    n = 0
    for phone, words in sorted(shared.items()):
        for model, number, body in ((ConversationEntry, ConversationEntry.phone, ConversationEntry.body),
                                    (InboundMessage, InboundMessage.from_number, InboundMessage.body),
                                    (Outbox, Outbox.to_address, Outbox.payload)):
            for row_id, value in session.exec(select(model.id, body).where(col(number) == phone)).all():
                new = _redacted(value, words)
                if new != value:
                    session.exec(update(model).where(col(model.id) == row_id).values({body: new}))
                    n += 1
    return n


def _purge_people(session: Session, person_ids: list[int]) -> int:
    n = 0
    for chunk in _chunks(person_ids):
        n += int(session.exec(update(Person).where(col(Person.id).in_(chunk)).values(
            name="", phone=None, email=None, position=None, organisation=None, service_name=None,
            source_row=None)).rowcount or 0)
    return n


def _purge_outbox(session: Session, campaign_id: int, addresses: set[str]) -> int:
    """Blank the campaign's messages and every message to a purged address (bot replies have no
    campaign); one still waiting is cancelled first, never sent to an empty address."""
    blank: dict[str, Any] = {"to_address": "", "payload": {}, "error_message": None}
    cancel = {"status": Status.failed, "error_class": "cancelled", "updated_at": utcnow()}
    waiting = col(Outbox.status).in_([Status.pending, Status.sending])
    session.exec(update(Outbox).where(col(Outbox.campaign_id) == campaign_id, waiting).values(**cancel))
    n = int(session.exec(update(Outbox).where(
        col(Outbox.campaign_id) == campaign_id, col(Outbox.to_address) != "").values(**blank)).rowcount or 0)
    for chunk in _chunks(sorted(addresses)):
        session.exec(update(Outbox).where(col(Outbox.to_address).in_(chunk), waiting).values(**cancel))
        n += int(session.exec(update(Outbox).where(
            col(Outbox.to_address).in_(chunk)).values(**blank)).rowcount or 0)
    return n


def _delete(session: Session, column: Any, values: set[str]) -> int:
    n = 0
    for chunk in _chunks(sorted(values)):
        n += int(session.exec(delete(column.class_).where(col(column).in_(chunk))).rowcount or 0)
    return n


def _purge_bot(session: Session, phones: set[str]) -> tuple[int, int, int, int]:
    conv = _delete(session, ConversationEntry.phone, phones)
    states = _delete(session, ConversationState.phone, phones)
    inbound = events = 0
    for phone in sorted(phones):  # keep the counts for the dashboard, not the number or the text
        masked = mask_phone(phone)
        inbound += int(session.exec(update(InboundMessage).where(
            col(InboundMessage.from_number) == phone).values(from_number=masked, body="")).rowcount or 0)
        events += int(session.exec(update(IntentEvent).where(
            col(IntentEvent.phone) == phone).values(phone=masked)).rowcount or 0)
    return conv, inbound, states, events


def _purge_cases(session: Session, campaign_id: int, phones: set[str], person_ids: list[int]) -> dict[str, int]:
    """Respondent cases, call-centre conversations and opt-in proofs (issue 25)."""
    n_cases = int(session.exec(delete(RespondentCase).where(
        col(RespondentCase.campaign_id) == campaign_id)).rowcount or 0)
    n_cases += _delete(session, RespondentCase.phone, phones)
    n_convs = _delete(session, AgentConversation.phone, phones)
    n_consent = _delete(session, ContactConsent.address, phones)
    for chunk in _chunks(person_ids):
        n_consent += int(session.exec(delete(ContactConsent).where(
            col(ContactConsent.person_id).in_(chunk))).rowcount or 0)
    return {"bot_case": n_cases, "bot_agent_conversation": n_convs, "bot_consent": n_consent}


def _optouts(session: Session, addresses: set[str]) -> int:
    return sum(len(session.exec(select(OptOut.id).where(col(OptOut.address).in_(chunk))).all())
               for chunk in _chunks(sorted(addresses)))


def purge_campaign(session: Session, campaign_id: int, actor: str,
                   now: datetime | None = None) -> PurgeResult:
    """Purge one campaign's personal data (see the module docstring). Raises PurgeRefused."""
    now = now or utcnow()
    campaign = check_purgeable(session.get(Campaign, campaign_id), campaign_id, now)
    close_if_due(session, campaign, now)  # open past its date: closed first, as the scheduler would
    person_ids, kept = _population(session, campaign)
    phones, emails, shared = _addresses(session, person_ids)
    addresses = phones | emails
    redacted = _redact_shared(session, shared)
    outbox = _purge_outbox(session, campaign_id, addresses)
    unreachable = _delete(session, Unreachable.address, addresses)
    reach = _delete(session, WhatsAppReach.address, phones)
    conv, inbound, states, events = _purge_bot(session, phones)
    cases = _purge_cases(session, campaign_id, phones, person_ids)
    people = _purge_people(session, person_ids)
    optouts = _optouts(session, addresses)
    mark_purged(campaign, now)
    session.add(campaign)
    tables = {"person": people, "outbox": outbox, "dispatch_unreachable": unreachable,
              "dispatch_wa_reach": reach, "bot_conversation": conv, "bot_state": states,
              "bot_inbound": inbound, "bot_intent_event": events, "texts_redacted": redacted, **cases}
    result = PurgeResult(campaign_id, len(person_ids), kept, outbox, conv, inbound, states,
                         optouts, tables)
    audit.record(session, actor, "campaign.purge", institution_id=campaign.institution_id,
                 target=f"campaign:{campaign_id}", details=result.as_dict())
    session.flush()
    return result
