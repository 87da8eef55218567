"""Outbox state transitions: claim (lease), record results, apply provider statuses, fall back.

Every transition is a conditional UPDATE (on `status` and, for a worker's own rows, on its
`attempt_id`), so a late or repeated writer never overrides a newer truth.

`attempts` counts requests that really left for the provider: a claim does not count; the result
of a request does (`mark_sent`, `mark_retry`, `mark_ambiguous`, `count_attempt`). A row given back
unsent (lease too short, messaging-limit window, a hold) or reopened by reconcile (the provider
never had it) keeps its attempts. A worker killed mid-request leaves its attempt uncounted: the
count may fall short of the requests, never exceed them.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import insert_for
from core.masking import mask_text
from dispatch.channels import error_for_code
from dispatch.models import STATUS_RANK, DeliveryEvent, Lane, Outbox, Status, Unreachable
from dispatch.service import enqueue_fallback

log = logging.getLogger("spibot.dispatch")
T = Outbox.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    lane: int
    channel: str
    purpose: str
    to_address: str
    sender: str
    payload: dict[str, Any]
    attempt_id: str
    attempts: int
    lease_until: datetime
    campaign_id: int | None = None
    wave: int = 1
    assignment_id: int | None = None


def claimable(now: datetime, allowed_zones: list[str] | None) -> Any:
    """Rows due now; bulk rows only where it is not quiet hours (`allowed_zones`, None = all)."""
    cond = and_(T.c.status == Status.pending, T.c.next_attempt_at <= now)
    if allowed_zones is not None:
        cond = and_(cond, or_(T.c.lane == Lane.reply, T.c.tz.in_(allowed_zones)))
    return cond


def claim(
    session: Session, *, limit: int, lease_seconds: float, allowed_zones: list[str] | None,
    now: datetime | None = None, lane: int | None = None, exclude: Any = None,
) -> list[Claimed]:
    """Lease up to `limit` due rows (of one `lane` if given; none `exclude`d, e.g. held bulk rows),
    replies first. PostgreSQL: FOR UPDATE
    SKIP LOCKED, so any number of workers share the outbox; SQLite: the write transaction
    (BEGIN IMMEDIATE) serialises. The caller commits before calling any provider."""
    now = now or utcnow()
    attempt = uuid.uuid4().hex
    lease = now + timedelta(seconds=lease_seconds)
    cond = claimable(now, allowed_zones)
    if lane is not None:
        cond = and_(cond, T.c.lane == lane)
    if exclude is not None:
        cond = and_(cond, exclude)
    # MATERIALIZED: evaluated once. As a plain `IN (subquery)` PostgreSQL may plan a nested-loop
    # semi join that re-runs the LIMIT ... SKIP LOCKED subquery for every outer row, and then one
    # claim takes every due row (seen on a freshly enqueued, not yet analysed outbox).
    due = (
        select(T.c.id)
        .where(cond)
        .order_by(T.c.lane, T.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    stmt = (
        update(T)
        .where(T.c.id.in_(select(due.c.id)), T.c.status == Status.pending)
        .values(status=Status.sending, attempt_id=attempt, lease_until=lease, claimed_at=now,
                updated_at=now)
        .returning(T.c.id, T.c.key, T.c.lane, T.c.channel, T.c.purpose, T.c.to_address,
                   T.c.sender, T.c.payload, T.c.attempts, T.c.campaign_id, T.c.wave, T.c.assignment_id)
    )
    rows = session.execute(stmt).all()
    claimed = [
        Claimed(id=r.id, key=r.key, lane=r.lane, channel=r.channel, purpose=r.purpose,
                to_address=r.to_address, sender=r.sender, payload=r.payload, attempt_id=attempt,
                attempts=r.attempts, lease_until=lease, campaign_id=r.campaign_id, wave=r.wave,
                assignment_id=r.assignment_id)
        for r in rows
    ]
    claimed.sort(key=lambda c: (c.lane, c.id))
    return claimed


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def in_values(session: Session, column: Any, values: list[str]) -> Any:
    """`column IN values`; on PostgreSQL as one array parameter, so the statement is the same
    (compiled and parsed once) whatever the number of values."""
    if is_postgresql(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(String())))
    return column.in_(values)


def mark_sent(session: Session, results: list[dict[str, Any]]) -> None:
    """results: dicts with id, attempt_id, provider_id, status (sent|delivered), backend."""
    if not results:
        return
    now = utcnow()
    if is_postgresql(session):
        _mark_sent_pg(session, results, now)
    else:
        stmt = (
            update(T)
            .where(T.c.id == bindparam("b_id"), T.c.attempt_id == bindparam("b_attempt"),
                   T.c.status == Status.sending)
            .values(status=bindparam("b_status"), provider_id=bindparam("b_provider"), attempts=T.c.attempts + 1,
                    backend=bindparam("b_backend"), sent_at=now, updated_at=now, lease_until=None,
                    error_code=None, error_class=None, error_message=None,
                    delivered_at=bindparam("b_delivered"))
        )
        params = [
            {"b_id": r["id"], "b_attempt": r["attempt_id"], "b_status": r["status"],
             "b_provider": r["provider_id"], "b_backend": r["backend"],
             "b_delivered": now if r["status"] == Status.delivered else None}
            for r in results
        ]
        session.connection().execute(stmt, params)
    _apply_early_events(session, [r["provider_id"] for r in results])


def _mark_sent_pg(session: Session, results: list[dict[str, Any]], now: datetime) -> None:
    """One UPDATE ... FROM unnest(arrays) for the whole batch: per-row parameter handling of an
    executemany cost more CPU than the database work."""
    def column(key: str, name: str, kind: Any) -> Any:
        values = [r[key] if kind is Integer or r[key] is None else str(r[key]) for r in results]
        return func.unnest(bindparam(f"b_{name}", values,
                                     type_=ARRAY(kind()))).label(name)

    v = select(column("id", "id", Integer), column("attempt_id", "attempt", String),
               column("provider_id", "provider", String), column("status", "status", String),
               column("backend", "backend", String)).subquery("v")
    at = literal(now, type_=T.c.sent_at.type)
    session.connection().execute(
        update(T)
        .where(T.c.id == v.c.id, T.c.attempt_id == v.c.attempt, T.c.status == Status.sending)
        .values(status=v.c.status, provider_id=v.c.provider, backend=v.c.backend, sent_at=at,
                attempts=T.c.attempts + 1,
                updated_at=at, lease_until=None, error_code=None, error_class=None,
                error_message=None, delivered_at=case((v.c.status == Status.delivered, at), else_=None)))


def mark_retry(session: Session, items: list[dict[str, Any]], *, max_attempts: int) -> list[int]:
    """Back off with jitter; rows out of attempts fail. Returns the ids that failed.

    Each item's `attempts` includes this one when its request left (`requested`, default True):
    that attempt is counted here."""
    now = utcnow()
    failed: list[int] = []
    retry_params, fail_params = [], []
    for it in items:
        common = {"b_id": it["id"], "b_attempt": it["attempt_id"], "b_code": it.get("code"),
                  "b_class": it["error_class"], "b_msg": (it.get("message") or "")[:300],
                  "b_inc": 1 if it.get("requested", True) else 0}
        if it["attempts"] >= max_attempts:
            failed.append(it["id"])
            fail_params.append(common)
        else:
            # 1, 2, 4, 8 ... s with jitter; a rate-limited answer already slowed the whole sender
            # down (ratelimit.penalise), so its own retry comes sooner.
            base = min(300.0, 2.0 ** (it["attempts"] - 1))
            if it["error_class"] == "rate_limited":
                base /= 2
            delay = base * (0.5 + random.random())  # noqa: S311
            retry_params.append({**common, "b_next": now + timedelta(seconds=delay)})
    base = update(T).where(T.c.id == bindparam("b_id"), T.c.attempt_id == bindparam("b_attempt"),
                           T.c.status == Status.sending)
    errs = {"error_code": bindparam("b_code"), "error_class": bindparam("b_class"),
            "error_message": bindparam("b_msg"), "updated_at": now, "lease_until": None,
            "attempts": T.c.attempts + bindparam("b_inc", type_=Integer())}
    if retry_params:
        session.connection().execute(
            base.values(status=Status.pending, next_attempt_at=bindparam("b_next"), **errs), retry_params)
    if fail_params:
        session.connection().execute(base.values(status=Status.failed, **errs), fail_params)
    return failed


def mark_ambiguous(session: Session, items: list[dict[str, Any]], *, delay: float) -> None:
    """The provider may have taken it: keep `sending`, let the lease expire soon, then look it up.
    The request left: its attempt counts (reconcile does not count it again)."""
    if not items:
        return
    now = utcnow()
    stmt = (
        update(T)
        .where(T.c.id == bindparam("b_id"), T.c.attempt_id == bindparam("b_attempt"),
               T.c.status == Status.sending)
        .values(lease_until=now + timedelta(seconds=delay), error_class="ambiguous", attempts=T.c.attempts + 1,
                error_code=bindparam("b_code"), error_message=bindparam("b_msg"), updated_at=now)
    )
    session.connection().execute(
        stmt, [{"b_id": it["id"], "b_attempt": it["attempt_id"], "b_code": it.get("code"),
                "b_msg": (it.get("message") or "")[:300]} for it in items])


def mark_failed(
    session: Session, row_id: int, attempt_id: str | None, *, code: str | None, error_class: str,
    message: str, unreachable: bool, fallback: bool = False,
) -> bool:
    """Fail one row. `unreachable`: the address is marked unreachable on its channel and the
    message falls back to the other one; `fallback` alone: the other channel, address kept.
    Without `attempt_id`, a row the provider accepted and then refused fails too: `sent`, or
    `unknown` (a send whose answer never came: a late bounce proves the server had it)."""
    now = utcnow()
    if attempt_id is not None:
        cond = [T.c.id == row_id, T.c.status.in_([Status.sending, Status.pending]), T.c.attempt_id == attempt_id]
    else:
        cond = [T.c.id == row_id, T.c.status.in_([Status.sending, Status.pending, Status.sent, Status.unknown])]
    res = session.execute(
        update(T).where(*cond).values(
            status=Status.failed, error_code=code, error_class=error_class,
            error_message=mask_text(message)[:300], updated_at=now, lease_until=None))
    if not res.rowcount:  # type: ignore[attr-defined]
        return False
    if unreachable or fallback:
        row = session.get(Outbox, row_id)
        if row is not None:
            if unreachable:
                on_unreachable(session, row, code)
            elif row.assignment_id is not None and row.purpose != "reply":
                enqueue_fallback(session, row)
    return True


def add_unreachable(session: Session, address: str, channel: str, code: str | None) -> None:
    if session.execute(select(col(Unreachable.id)).where(col(Unreachable.address) == address)).first():
        return
    ins = insert_for(session, Unreachable.__table__)  # type: ignore[attr-defined]
    session.execute(ins.values(address=address, channel=channel, error_code=code, at=utcnow())
                    .on_conflict_do_nothing())


def on_unreachable(session: Session, row: Outbox, code: str | None) -> None:
    """Record the address as unreachable on that channel and send the same message on the other
    channel, if the respondent has one that is usable (the fallback rule)."""
    add_unreachable(session, row.to_address, row.channel, code)
    if row.assignment_id is None or row.purpose == "reply":
        return
    enqueue_fallback(session, row)


def apply_status(
    session: Session, provider_id: str, status: str, error_code: str | None = None,
) -> bool:
    """Move a row forward to `status` if that is progress; never backwards. Returns True if moved.

    A failure the provider reports after accepting the message goes through the channel's error
    table like a refusal at send time: the messaging limit or a held-back marketing message puts
    the row back to `pending` for later, a configuration problem holds the sender, an unreachable
    number falls back to the other channel."""
    rank = STATUS_RANK.get(status)
    if rank is None:
        return False
    if status == Status.failed and error_code:
        row = session.execute(select(Outbox).where(col(Outbox.provider_id) == provider_id)).scalar_one_or_none()
        if row is not None and row.status in (Status.sent, Status.sending):
            # here, not at the top: dispatch.outcomes imports this module (cycle)
            from dispatch.outcomes import after_provider_failure

            return after_provider_failure(session, row, error_for_code(row.channel, error_code, row.purpose))
    lower = [s for s, r in STATUS_RANK.items() if r < rank and s != Status.pending]
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now, "lease_until": None}
    if status in (Status.delivered, Status.read):
        values["delivered_at"] = func.coalesce(T.c.delivered_at, now)
    if status == Status.failed:
        values["error_code"] = error_code
        values["error_class"] = "delivery"
    res = session.execute(
        update(T).where(T.c.provider_id == provider_id, T.c.status.in_(lower)).values(**values))
    return bool(res.rowcount)  # type: ignore[attr-defined]


def requeue(session: Session, row_id: int, *, attempt_id: str | None, next_at: datetime,
            error_class: str, code: str | None, message: str, count_attempt: bool) -> bool:
    """Back to `pending` until `next_at`: claimed by this attempt (`attempt_id`) and not sent, or
    (attempt_id None) accepted by the provider and then refused (its provider id is dropped, so
    the next attempt's callbacks are the ones that count)."""
    if attempt_id is not None:
        cond = [T.c.id == row_id, T.c.attempt_id == attempt_id, T.c.status == Status.sending]
    else:
        cond = [T.c.id == row_id, T.c.status.in_([Status.sent, Status.sending])]
    values: dict[str, Any] = {
        "status": Status.pending, "next_attempt_at": next_at, "lease_until": None,
        "error_code": code, "error_class": error_class, "error_message": mask_text(message)[:300],
        "updated_at": utcnow(), "provider_id": None, "sent_at": None}
    if not count_attempt:
        values["attempts"] = T.c.attempts - 1
    res = session.execute(update(T).where(*cond).values(**values))
    return bool(res.rowcount)  # type: ignore[attr-defined]


def _apply_early_events(session: Session, provider_ids: list[str]) -> None:
    """Status callbacks that arrived before we recorded the provider id (Twilio can be faster
    than our own write): apply them now."""
    ids = [p for p in provider_ids if p]
    if not ids:
        return
    events = session.execute(
        select(DeliveryEvent).where(in_values(session, DeliveryEvent.provider_id, ids),
                                    DeliveryEvent.applied.is_(False))  # type: ignore[attr-defined]
    ).scalars().all()
    for ev in sorted(events, key=lambda e: STATUS_RANK.get(e.status, 0)):
        if apply_status(session, ev.provider_id, ev.status, ev.error_code):
            ev.applied = True
            session.add(ev)


def count_attempt(session: Session, row_id: int, attempt_id: str) -> None:
    """A request of this claim left and was refused: count it (before `outcomes.after_error`)."""
    session.execute(update(T).where(T.c.id == row_id, T.c.attempt_id == attempt_id, T.c.status == Status.sending)
                    .values(attempts=T.c.attempts + 1))


def release_unsent(session: Session, items: list[dict[str, Any]]) -> None:
    """Claimed but never sent (the lease ran too short while the message waited for its slot):
    back to pending at once, the attempt not counted. Only while this claim still holds the row."""
    if not items:
        return
    now = utcnow()
    session.connection().execute(
        update(T).where(T.c.id == bindparam("b_id"), T.c.attempt_id == bindparam("b_attempt"),
                        T.c.status == Status.sending)
        .values(status=Status.pending, lease_until=None, next_attempt_at=now, updated_at=now),
        [{"b_id": it["id"], "b_attempt": it["attempt_id"]} for it in items])


def claim_expired(session: Session, *, now: datetime, limit: int, lease_seconds: float) -> list[Any]:
    """Take up to `limit` rows whose lease expired, for one reconciler: each gets a new
    `attempt_id` and lease (status stays `sending`, `claimed_at` stays the send's claim: the
    look-up's floor), so no other worker looks the same row up while this one does; if this one
    dies, the lease expires again and another takes it. PostgreSQL: SKIP LOCKED. The caller
    commits before looking anything up."""
    attempt = "r" + uuid.uuid4().hex[:31]
    due = (
        select(T.c.id)
        .where(T.c.status == Status.sending, T.c.lease_until < now)
        .order_by(T.c.lease_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("expired")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    stmt = (
        update(T)
        .where(T.c.id.in_(select(due.c.id)), T.c.status == Status.sending, T.c.lease_until < now)
        .values(attempt_id=attempt, lease_until=now + timedelta(seconds=lease_seconds))
        .returning(T.c.id, T.c.attempt_id, T.c.channel, T.c.to_address, T.c.sender, T.c.claimed_at,
                   T.c.error_class)
    )
    return sorted(session.execute(stmt).all(), key=lambda r: r.id)


def reopen(session: Session, row_id: int, attempt_id: str | None, note: str) -> bool:
    """Back to pending (a reconcile found the provider never took it); its attempts stay."""
    res = session.execute(
        update(T).where(T.c.id == row_id, T.c.status == Status.sending, T.c.attempt_id == attempt_id)
        .values(status=Status.pending, lease_until=None, next_attempt_at=utcnow(),
                error_class="reconciled", error_message=note, updated_at=utcnow()))
    return bool(res.rowcount)  # type: ignore[attr-defined]
