"""Reconciling rows stuck in `sending` past their lease (a crashed worker, a timed-out request).

Never resend blindly: ask the provider what it holds for that address since the claim. Found ->
the row takes that message's id and status. Provably not there -> back to pending. The provider
cannot tell (SMTP) -> `unknown`, for a person to look at.

One reconciler per row: a pass first takes its rows (`outbox.claim_expired`: a new attempt id and
a RECONCILE_LEASE_SECONDS lease, SKIP LOCKED), so workers running reconcile at the same time look
up disjoint rows, and a late answer of a reconciler that lost its rows changes nothing. Look-ups
run LOOKUP_CONCURRENCY at a time. A reopened row keeps its attempts (a look-up is not a send); a
found one counts the request that reached the provider, unless it was counted already (a
timed-out send, `ambiguous`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, select, update

from core.aio import run_sync
from core.clock import as_utc, utcnow
from core.db import session_scope
from dispatch import outbox
from dispatch.channels import make_channel
from dispatch.channels.base import Channel, ChannelError
from dispatch.models import Outbox, Status

log = logging.getLogger("spibot.dispatch")
T = Outbox.__table__  # type: ignore[attr-defined]
BATCH = 200  # rows one pass takes
RECONCILE_LEASE_SECONDS = 60.0  # a reconciler's hold on the rows it looks up
LOOKUP_CONCURRENCY = 8
LOOKUP_RETRY_SECONDS = 5.0  # a failed look-up: the row is free for any reconciler again after this


def _claim(now: datetime, limit: int) -> list[Any]:
    with session_scope() as session:  # a cheap read first: most passes find nothing
        if session.execute(select(T.c.id).where(T.c.status == Status.sending, T.c.lease_until < now)
                           .limit(1)).first() is None:
            return []
    with session_scope(write=True) as session:
        return outbox.claim_expired(session, now=now, limit=limit, lease_seconds=RECONCILE_LEASE_SECONDS)


def _release(row: Any) -> None:
    with session_scope(write=True) as session:
        session.execute(update(T)
                        .where(T.c.id == row.id, T.c.status == Status.sending, T.c.attempt_id == row.attempt_id)
                        .values(lease_until=utcnow() + timedelta(seconds=LOOKUP_RETRY_SECONDS)))


async def reconcile(channels: dict[str, Channel], now: datetime | None = None, *,
                    limit: int = BATCH) -> dict[str, int]:
    """Take up to `limit` rows whose lease expired and settle each by asking the provider."""
    now = now or utcnow()
    counts = {"checked": 0, "found": 0, "reopened": 0, "unknown": 0, "skipped": 0}
    rows = await asyncio.to_thread(_claim, now, limit)
    sem = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def settle(row: Any) -> None:
        async with sem:
            counts["checked"] += 1
            since = as_utc(row.claimed_at) if row.claimed_at else now
            try:
                found = await channels[row.channel].lookup(row.to_address, row.sender, since)
            except ChannelError as exc:
                log.warning("lookup failed for outbox row %s: %s", row.id, exc)
                counts["skipped"] += 1
                await asyncio.to_thread(_release, row)
                return
            counts[await asyncio.to_thread(_resolve, row, found)] += 1

    await asyncio.gather(*(settle(r) for r in rows))
    if any(counts[k] for k in ("found", "reopened", "unknown")):
        log.info("reconciled expired leases: %s", counts)
    return counts


def _resolve(row: Any, found: list[Any] | None) -> str:
    with session_scope(write=True) as session:
        if found is None:
            res = session.execute(
                update(T).where(T.c.id == row.id, T.c.status == Status.sending,
                                T.c.attempt_id == row.attempt_id)
                .values(status=Status.unknown, lease_until=None, error_class="unknown",
                        error_message="lease expired; the provider cannot be asked", updated_at=utcnow()))
            return "unknown" if res.rowcount else "skipped"  # type: ignore[attr-defined]
        ids = [m.provider_id for m in found]
        known = (set(session.execute(select(T.c.provider_id).where(T.c.provider_id.in_(ids))).scalars())
                 if ids else set())
        fresh = sorted((m for m in found if m.provider_id not in known),
                       key=lambda m: m.created_at or utcnow())
        if not fresh:
            return "reopened" if outbox.reopen(session, row.id, row.attempt_id, "not found at provider") else "skipped"
        msg = fresh[0]
        now = utcnow()
        res = session.execute(
            update(T).where(T.c.id == row.id, T.c.status == Status.sending, T.c.attempt_id == row.attempt_id)
            .values(status=Status.sent, provider_id=msg.provider_id, sent_at=msg.created_at or now,
                    attempts=case((T.c.error_class == "ambiguous", T.c.attempts), else_=T.c.attempts + 1),
                    lease_until=None, updated_at=now, error_class="reconciled",
                    error_message="found at provider after lease expiry"))
        if not res.rowcount:  # type: ignore[attr-defined]
            return "skipped"
        if msg.status != Status.sent:
            outbox.apply_status(session, msg.provider_id, msg.status, msg.error_code)
        return "found"


def reconcile_sync(now: datetime | None = None) -> dict[str, Any]:
    """For the scheduler (a thread without an event loop)."""

    async def run() -> dict[str, int]:
        channels = {name: make_channel(name) for name in ("whatsapp", "email")}
        try:
            return await reconcile(channels, now)
        finally:
            for ch in channels.values():
                await ch.close()

    return dict(run_sync(run))
