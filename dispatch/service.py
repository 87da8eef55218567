"""Enqueueing: invitations, reminders, links, replies, fallbacks. Only inserts outbox rows; the
workers send. Every row has a UNIQUE key, so enqueueing the same thing twice inserts nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, Protocol, cast

from sqlalchemy import String, exists, func, select
from sqlalchemy import cast as sql_cast
from sqlmodel import Session, col

from core.audit import record
from core.campaigns import ensure_sendable
from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import analyze_if_stale, insert_for, is_sqlite
from core.models import Assignment, Campaign, Institution, OptOut, Person, Unit
from dispatch import content
from dispatch.models import Hold, HoldScope, Lane, Outbox, Purpose, Unreachable, Wave

log = logging.getLogger("spibot.dispatch")
CHUNK = 1000
T = Outbox.__table__  # type: ignore[attr-defined]


def normalize_address(address: str) -> str:
    return address.strip().removeprefix("whatsapp:").strip().lower() if "@" in address else \
        address.strip().removeprefix("whatsapp:").strip()


def is_opted_out(session: Session, address: str) -> bool:
    addr = normalize_address(address)
    return session.execute(select(col(OptOut.id)).where(col(OptOut.address) == addr)).first() is not None


def _blocked(session: Session, addresses: list[str]) -> set[str]:
    """Addresses that must not be messaged in bulk: opted out or permanently unreachable."""
    addrs = [a for a in addresses if a]
    if not addrs:
        return set()
    out = set(session.execute(select(col(OptOut.address)).where(col(OptOut.address).in_(addrs))).scalars())
    out |= set(session.execute(select(col(Unreachable.address)).where(col(Unreachable.address).in_(addrs))).scalars())
    return out


def sender_for(channel: str, group: str, campaign: Campaign) -> str:
    settings = get_settings()
    cfg = campaign.config or {}
    if channel == "email":
        return str(cfg.get("email_from") or settings.email_from)
    kind = "internal" if group == "internal" else "external"
    return str(cfg.get("senders", {}).get(kind) or (
        settings.whatsapp_sender_internal if kind == "internal" else settings.whatsapp_sender_external))


def commit_and_rearm(session: Session) -> None:
    """Commit a chunk; on SQLite take the write lock up front again for the next one."""
    session.commit()
    if is_sqlite(session):
        session.connection(execution_options={"sqlite_immediate": True})


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    ins = insert_for(session, T)
    # The driver's own executemany (psycopg: pipelined), whose row count is the rows inserted.
    # With RETURNING, SQLAlchemy would send "insertmanyvalues" batches instead: one statement of
    # ~19,000 placeholders per 1,000 rows, which psycopg re-parses every time (half the enqueue).
    stmt = ins.on_conflict_do_nothing(index_elements=["key"]).execution_options(preserve_rowcount=True)
    return int(session.execute(stmt, rows).rowcount)  # type: ignore[attr-defined]


def new_row(
    *, key: str, channel: str, purpose: str, wave: int, to: str, sender: str, tz: str, lane: int,
    payload: dict[str, Any], campaign_id: int | None, assignment_id: int | None,
    unit_id: int | None, institution_id: int | None, now: datetime, fallback_of: int | None = None,
) -> dict[str, Any]:
    return {
        "key": key, "lane": lane, "channel": channel, "purpose": purpose, "wave": wave,
        "to_address": to, "sender": sender, "tz": tz, "payload": payload, "status": "pending",
        "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now,
        "campaign_id": campaign_id, "assignment_id": assignment_id, "unit_id": unit_id,
        "institution_id": institution_id, "fallback_of": fallback_of,
    }



def enqueue_notice(session: Session, *, key: str, to: str, subject: str, text: str,
                   institution_id: int | None, now: datetime | None = None) -> int:
    """One plain-text email to an office address (not a respondent: no personal link, no
    campaign figures), e.g. a unit's data-deadline reminder: an outbox row on the priority lane,
    sent like an admin alert. Once per `key`; returns rows enqueued (0 when sent before)."""
    now = now or utcnow()
    row = new_row(key=f"notice:{key}"[:200], channel="email", purpose=Purpose.alert, wave=1, to=to.strip().lower(),
                  sender=get_settings().email_from, tz="UTC", lane=Lane.reply,
                  payload={"subject": subject, "text": text}, campaign_id=None, assignment_id=None,
                  unit_id=None, institution_id=institution_id, now=now)
    return insert_rows(session, [row])


def message_key(purpose: str, wave: int, assignment_id: int, channel: str) -> str:
    return f"{purpose}:{wave}:a{assignment_id}:{channel}"


def _iter_targets(
    session: Session, campaign: Campaign, *, unit_id: int | None = None,
    assignment_ids: list[int] | None = None,
) -> Iterator[list[tuple[Assignment, Person, Unit | None]]]:
    """Active, non-responding assignments of a campaign, in chunks (memory stays flat).

    Pages by person_id along the unique (campaign_id, person_id) index. The statistics are
    refreshed first if the table changed much (a campaign sampled a minute ago): with a fresh
    table's statistics PostgreSQL sorted the whole campaign for every page (0.5 s a page at 300k).
    """
    analyze_if_stale(session, "assignment")
    last_person = 0
    while True:
        q = (
            select(Assignment, Person, Unit)
            .join(Person, col(Person.id) == col(Assignment.person_id))
            .outerjoin(Unit, col(Unit.id) == col(Assignment.unit_id))
            .where(col(Assignment.campaign_id) == campaign.id, col(Assignment.active).is_(True),
                   col(Assignment.responded_at).is_(None), col(Assignment.person_id) > last_person,
                   col(Person.id) > last_person)  # lets PostgreSQL start the person scan there too
            .order_by(col(Assignment.campaign_id), col(Assignment.person_id))
            .limit(CHUNK)
        )
        if unit_id is not None:
            q = q.where(col(Assignment.unit_id) == unit_id)
        if assignment_ids is not None:
            q = q.where(col(Assignment.id).in_(assignment_ids))
        q = q.where(~exists().where(  # a respondent paused (a case for the PIC, bot.cases) is skipped
            col(Hold.scope) == HoldScope.assignment, col(Hold.target) == sql_cast(col(Assignment.id), String)))
        chunk = [(a, p, u) for a, p, u in session.execute(q).all()]
        if not chunk:
            return
        yield chunk
        last_person = chunk[-1][0].person_id


def choose_channel(person: Person, blocked: set[str]) -> tuple[str, str] | None:
    """WhatsApp if the person has a usable number, else email; None if unreachable on both."""
    if person.phone and person.phone not in blocked:
        return "whatsapp", person.phone
    email = person.email.lower() if person.email else None
    if email and email not in blocked:
        return "email", email
    return None


def _bulk_rows(
    session: Session, campaign: Campaign, institution: Institution,
    chunk: list[tuple[Assignment, Person, Unit | None]], *, purpose: str,
    wave_of: dict[int, int], lane: int, now: datetime, validated: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    blocked = _blocked(session, [a for _, p, _ in chunk for a in (p.phone, p.email and p.email.lower()) if a])
    template = content.TEMPLATE_OF_PURPOSE[purpose]
    sid_override = (campaign.config or {}).get("content_sids", {}).get(template)
    rows = []
    for assignment, person, unit in chunk:
        if assignment.id not in wave_of:
            continue
        picked = choose_channel(person, blocked)
        if picked is None:
            continue
        channel, address = picked
        variables = content.respondent_variables(person, unit, institution, campaign)
        if (channel, template) not in validated:  # a missing variable fails here, before any insert
            content.validate(channel, template, variables)
            validated.add((channel, template))
        wave = wave_of[assignment.id]
        rows.append(new_row(
            key=message_key(purpose, wave, assignment.id, channel),
            channel=channel, purpose=purpose, wave=wave, to=address,
            sender=sender_for(channel, assignment.group, campaign), tz=institution.timezone,
            lane=lane, payload={"template": template, "vars": variables, "nonce": assignment.token_nonce,
                                **({"content_sid": sid_override} if sid_override else {})},
            campaign_id=campaign.id, assignment_id=assignment.id, unit_id=assignment.unit_id,
            institution_id=institution.id, now=now))
    return rows


def _campaign(session: Session, campaign_id: int, now: datetime | None = None) -> tuple[Campaign, Institution]:
    """The campaign to send for, and its institution. Raises ValueError when it does not exist,
    and core.campaigns.CampaignClosed (a ValueError) when it has closed: nothing is sent for it."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise ValueError(f"campaign {campaign_id} does not exist")
    ensure_sendable(campaign, now)
    institution = session.get(Institution, campaign.institution_id)
    assert institution is not None
    return campaign, institution


def enqueue_invitations(
    session: Session, campaign_id: int, *, now: datetime | None = None, commit_chunks: bool = False,
    actor: str = "system", assignment_ids: list[int] | None = None,
) -> int:
    """The first wave: one invitation per active, non-responding assignment (WhatsApp if the person
    has a usable number, else email), or only to `assignment_ids`. Idempotent. Returns the number
    of rows inserted."""
    now = now or utcnow()
    campaign, institution = _campaign(session, campaign_id, now)
    validated: set[tuple[str, str]] = set()
    total = 0
    for chunk in _iter_targets(session, campaign, assignment_ids=assignment_ids):
        wave_of = {a.id: 1 for a, _, _ in chunk}
        rows = _bulk_rows(session, campaign, institution, chunk, purpose=Purpose.invitation,
                          wave_of=wave_of, lane=Lane.bulk, now=now, validated=validated)  # type: ignore[arg-type]
        total += insert_rows(session, rows)
        if commit_chunks:
            commit_and_rearm(session)
    record(session, actor, "dispatch.invitations", institution_id=institution.id,
           target=f"campaign:{campaign_id}", details={"enqueued": total})
    return total


def invite_after_wave(session: Session, campaign_id: int, assignment_ids: list[int], *,
                      now: datetime | None = None, actor: str = "system") -> int:
    """Invite these assignments (e.g. a reserve called up to replace someone unreachable) if the
    campaign's invitation wave already ran; before it nothing is sent, as the wave will invite them
    with everyone else. Returns the number of messages enqueued."""
    # here, not at the top: dispatch.waves imports this module (cycle)
    from dispatch.waves import invitation_wave_key

    started = session.execute(select(col(Wave.key)).where(col(Wave.key) == invitation_wave_key(campaign_id))).first()
    if not started or not assignment_ids:
        return 0
    return enqueue_invitations(session, campaign_id, now=now, actor=actor, assignment_ids=assignment_ids)


def _reminder_history(session: Session, ids: list[int]) -> dict[int, tuple[int, datetime | None, bool]]:
    """assignment id -> (reminders so far, last bulk message created_at, had a last call)."""
    q = (
        select(T.c.assignment_id, T.c.purpose, func.count(), func.max(T.c.created_at))
        .where(T.c.assignment_id.in_(ids), T.c.fallback_of.is_(None),
               T.c.purpose.in_([p.value for p in (Purpose.invitation, Purpose.reminder, Purpose.last_call)]))
        .group_by(T.c.assignment_id, T.c.purpose)
    )
    out: dict[int, tuple[int, datetime | None, bool]] = {}
    for aid, purpose, n, last in session.execute(q).all():
        count, prev_last, had_last_call = out.get(aid, (0, None, False))
        if last is not None and last.tzinfo is None:
            last = as_utc(last)
        newest = max([d for d in (prev_last, last) if d is not None], default=None)
        out[aid] = (count + (n if purpose == Purpose.reminder else 0), newest,
                    had_last_call or purpose == Purpose.last_call)
    return out


def enqueue_reminder(
    session: Session, campaign_id: int, *, unit_id: int | None = None, actor: str = "system",
    purpose: str = Purpose.reminder, now: datetime | None = None, commit_chunks: bool = False,
) -> int:
    """Remind non-responders (of one unit, if given): not opted out, not unreachable, at least the
    minimum gap after their last message, at most the maximum count. Returns rows inserted."""
    now = now or utcnow()
    settings = get_settings()
    campaign, institution = _campaign(session, campaign_id, now)
    cfg = campaign.config or {}
    gap = timedelta(days=float(cfg.get("reminder_min_gap_days", settings.reminder_min_gap_days)))
    max_count = int(cfg.get("reminder_max_count", settings.reminder_max_count))
    validated: set[tuple[str, str]] = set()
    total = 0
    for chunk in _iter_targets(session, campaign, unit_id=unit_id):
        history = _reminder_history(session, [a.id for a, _, _ in chunk])  # type: ignore[misc]
        wave_of: dict[int, int] = {}
        for a, _, _ in chunk:
            count, last, had_last_call = history.get(a.id, (0, None, False))  # type: ignore[arg-type]
            if last is not None and now - last < gap:
                continue
            if purpose == Purpose.last_call:
                if not had_last_call:
                    wave_of[a.id] = 1  # type: ignore[index]
            elif count < max_count:
                wave_of[a.id] = count + 1  # type: ignore[index]
        rows = _bulk_rows(session, campaign, institution, chunk, purpose=purpose, wave_of=wave_of,
                          lane=Lane.bulk, now=now, validated=validated)
        total += insert_rows(session, rows)
        if commit_chunks:
            commit_and_rearm(session)
    record(session, actor, f"dispatch.{purpose}", institution_id=institution.id,
           target=f"campaign:{campaign_id}" + (f"/unit:{unit_id}" if unit_id else ""),
           details={"enqueued": total})
    return total


def enqueue_link(session: Session, assignment: Assignment, *, purpose: str = "registration") -> int:
    """Send one respondent their personal link now, on the priority lane: WhatsApp if they have a
    usable number, and email if they have one. Returns rows inserted (0 if already sent)."""
    campaign, institution = _campaign(session, assignment.campaign_id)
    person = session.get(Person, assignment.person_id)
    if person is None:
        raise ValueError(f"assignment {assignment.id} has no person")
    unit = session.get(Unit, assignment.unit_id) if assignment.unit_id else None
    template = content.TEMPLATE_OF_PURPOSE.get(purpose, "registration")
    variables = content.respondent_variables(person, unit, institution, campaign)
    email = person.email.lower() if person.email else None
    blocked = _blocked(session, [a for a in (person.phone, email) if a])
    now = utcnow()
    rows = []
    for channel, address in (("whatsapp", person.phone), ("email", email)):
        if not address or address in blocked:
            continue
        content.validate(channel, template, variables)
        rows.append(new_row(
            key=message_key(purpose, 1, assignment.id, channel), channel=channel, purpose=purpose,  # type: ignore[arg-type]
            wave=1, to=address, sender=sender_for(channel, assignment.group, campaign),
            tz=institution.timezone, lane=Lane.reply,
            payload={"template": template, "vars": variables, "nonce": assignment.token_nonce},
            campaign_id=campaign.id, assignment_id=assignment.id, unit_id=assignment.unit_id,
            institution_id=institution.id, now=now))
    return insert_rows(session, rows)


class LinkRecipient(Protocol):
    """A respondent whose personal link is to be sent (e.g. a walk-in registration; read only)."""

    @property
    def assignment_id(self) -> int: ...
    @property
    def unit(self) -> Unit | None: ...
    @property
    def group(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def nonce(self) -> str: ...


def enqueue_links(session: Session, campaign: Campaign, institution: Institution,
                  recipients: Sequence[LinkRecipient], *, purpose: str = "registration") -> int:
    """`enqueue_link` for a batch, in one INSERT: the same rows, with the opt-out/unreachable
    lookup once and each channel's template validated once. Returns rows inserted."""
    template = content.TEMPLATE_OF_PURPOSE.get(purpose, "registration")
    emails = [r.email.lower() if r.email else None for r in recipients]
    blocked = _blocked(session, [a for r, e in zip(recipients, emails, strict=True) for a in (r.phone, e) if a])
    now = utcnow()
    validated: set[str] = set()
    rows = []
    for r, email in zip(recipients, emails, strict=True):
        # only the name is read from the person: a stand-in, not an ORM object (~0.5 ms each)
        variables = content.respondent_variables(cast(Person, SimpleNamespace(name=r.name)), r.unit,
                                                 institution, campaign)
        for channel, address in (("whatsapp", r.phone), ("email", email)):
            if not address or address in blocked:
                continue
            if channel not in validated:
                content.validate(channel, template, variables)
                validated.add(channel)
            rows.append(new_row(
                key=message_key(purpose, 1, r.assignment_id, channel), channel=channel, purpose=purpose,
                wave=1, to=address, sender=sender_for(channel, r.group, campaign),
                tz=institution.timezone, lane=Lane.reply,
                payload={"template": template, "vars": variables, "nonce": r.nonce},
                campaign_id=campaign.id, assignment_id=r.assignment_id,
                unit_id=r.unit.id if r.unit else None, institution_id=institution.id, now=now))
    return insert_rows(session, rows)


def enqueue_reply(
    session: Session, *, to: str, body: str, key: str, campaign_id: int | None = None,
    assignment_id: int | None = None, sender: str | None = None,
) -> Outbox | None:
    """A free-form WhatsApp reply inside the 24-hour window, on the priority lane, sent whatever
    the hour. Idempotent by `key`; returns None if that key was already enqueued.

    A reply answers a message the respondent has just sent us, so it goes out even to an opted-out
    number (e.g. the confirmation of their STOP); bulk messages never do."""
    if not body or not body.strip():
        raise ValueError("reply body is empty")
    address = normalize_address(to)
    now = utcnow()
    row = new_row(
        key=f"reply:{key}" if not key.startswith("reply:") else key, channel="whatsapp",
        purpose=Purpose.reply, wave=1, to=address,
        sender=sender or get_settings().whatsapp_sender_internal, tz="UTC", lane=Lane.reply,
        payload={"body": body[:1600]}, campaign_id=campaign_id, assignment_id=assignment_id,
        unit_id=None, institution_id=None, now=now)
    if not insert_rows(session, [row]):
        return None
    stored: Outbox = session.execute(select(Outbox).where(Outbox.key == row["key"])).scalar_one()
    return stored


def enqueue_fallback(session: Session, failed: Outbox) -> int:
    """The same message on the respondent's other channel (WhatsApp <-> email), once."""
    if failed.assignment_id is None:
        return 0
    assignment = session.get(Assignment, failed.assignment_id)
    if assignment is None or assignment.responded_at is not None:
        return 0
    person = session.get(Person, assignment.person_id)
    if person is None:
        return 0
    other = "email" if failed.channel == "whatsapp" else "whatsapp"
    address = (person.email or "").lower() if other == "email" else (person.phone or "")
    if not address or _blocked(session, [address]):
        return 0
    campaign = session.get(Campaign, assignment.campaign_id)
    assert campaign is not None
    payload = dict(failed.payload)
    content.validate(other, payload["template"], payload["vars"])
    row = new_row(
        key=message_key(failed.purpose, failed.wave, assignment.id, other), channel=other,  # type: ignore[arg-type]
        purpose=failed.purpose, wave=failed.wave, to=address,
        sender=sender_for(other, assignment.group, campaign), tz=failed.tz, lane=failed.lane,
        payload=payload, campaign_id=failed.campaign_id, assignment_id=assignment.id,
        unit_id=failed.unit_id, institution_id=failed.institution_id, now=utcnow(),
        fallback_of=failed.id)
    n = insert_rows(session, [row])
    if n:
        log.info("fallback to %s for outbox row %s", other, failed.id)
    return n


def enqueue_due_waves(now: datetime | None = None) -> dict[str, Any]:
    """Scheduler job: enqueue whatever wave is due (opening blast, reminders, last call)."""
    # here, not at the top: dispatch.waves imports this module (cycle)
    from dispatch.waves import enqueue_due_waves as run

    return run(now)


def reconcile_expired_leases(now: datetime | None = None) -> dict[str, Any]:
    """Scheduler job: rows stuck in `sending` past their lease are looked up at the provider."""
    # here, not at the top: dispatch.reconcile imports dispatch.outbox, which imports this module (cycle)
    from dispatch.reconcile import reconcile_sync

    return reconcile_sync(now)


__all__ = [
    "enqueue_due_waves", "enqueue_fallback", "enqueue_invitations", "enqueue_link", "invite_after_wave",
    "enqueue_reminder", "enqueue_reply", "is_opted_out", "reconcile_expired_leases",
]
