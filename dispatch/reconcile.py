"""Reconciling rows stuck in `sending` past their lease (a crashed worker, a timed-out request).

Never resend blindly: ask the provider what it holds for that address since the claim. Found ->
the row takes that message's id and status. Provably not there -> back to pending. The provider
cannot tell (SMTP) -> `unknown`, for a person to look at.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from core.aio import run_sync
from core.clock import as_utc, utcnow
from core.db import session_scope
from dispatch import outbox
from dispatch.channels import make_channel
from dispatch.channels.base import Channel, ChannelError
from dispatch.models import Outbox, Status

log = logging.getLogger("spibot.dispatch")
T = Outbox.__table__  # type: ignore[attr-defined]
BATCH = 500


def _expired(session: Session, now: datetime) -> list[Any]:
    return list(session.execute(
        select(T.c.id, T.c.attempt_id, T.c.channel, T.c.to_address, T.c.sender, T.c.claimed_at)
        .where(T.c.status == Status.sending, T.c.lease_until < now)
        .order_by(T.c.lease_until).limit(BATCH)
    ).all())


async def reconcile(channels: dict[str, Channel], now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    counts = {"checked": 0, "found": 0, "reopened": 0, "unknown": 0, "skipped": 0}
    with session_scope() as session:
        rows = _expired(session, now)
    for row in rows:
        counts["checked"] += 1
        channel = channels[row.channel]
        since = as_utc(row.claimed_at) if row.claimed_at else now
        try:
            found = await channel.lookup(row.to_address, row.sender, since)
        except ChannelError as exc:
            log.warning("lookup failed for outbox row %s: %s", row.id, exc)
            counts["skipped"] += 1
            continue
        counts[await asyncio.to_thread(_resolve, row, found)] += 1
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
