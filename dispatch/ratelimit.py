"""Send rates shared by every worker: per WhatsApp sender and per SMTP server.

Each bucket is one database row holding the time of its next free slot. A worker reserves `n`
slots at once (one short write transaction) and then starts message i at `start + i / rate`.
Slots never overlap whoever reserves them, so no 1-second window holds more than the cap, however
many workers run on however many machines. On a rate-limit answer (429/20429/63018) the bucket's
`factor` halves and the next slot moves back a second; it recovers by 10% per clean reservation.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlmodel import Session

from dispatch.models import RateBucket

# Aim slightly under the cap: slot timing jitters by a few milliseconds on a busy machine.
HEADROOM = 0.96
MIN_FACTOR = 0.1
PENALTY_SECONDS = 1.0
RECOVERY = 1.1
QUIET_AFTER_PENALTY = 5.0


def bucket_key(channel: str, sender: str) -> str:
    if channel == "email":
        return f"smtp:{sender}"
    return f"wa:{sender}"


def _load(session: Session, key: str) -> RateBucket:
    bucket = session.execute(
        select(RateBucket).where(RateBucket.key == key).with_for_update()  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if bucket is None:
        # Concurrent first use: insert-or-ignore, then lock the row.
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = session.get_bind().dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RateBucket.__table__)  # type: ignore[attr-defined]
        session.execute(ins.values(key=key, next_at=0.0, factor=1.0, penalised_at=0.0).on_conflict_do_nothing())
        bucket = session.execute(
            select(RateBucket).where(RateBucket.key == key).with_for_update()  # type: ignore[arg-type]
        ).scalar_one()
    return bucket


def reserve(session: Session, key: str, n: int, rate: float, now: float | None = None) -> tuple[float, float]:
    """Reserve `n` slots; returns (start epoch seconds, interval between slots). The caller commits.

    A rate <= 0 means uncapped: (now, 0.0) and no database work.
    """
    now = time.time() if now is None else now
    if rate <= 0 or n <= 0:
        return now, 0.0
    bucket = _load(session, key)
    if bucket.factor < 1.0 and now - bucket.penalised_at > QUIET_AFTER_PENALTY:
        bucket.factor = min(1.0, bucket.factor * RECOVERY)
    interval = 1.0 / (rate * HEADROOM * bucket.factor)
    start = max(bucket.next_at, now)
    bucket.next_at = start + n * interval
    session.add(bucket)
    return start, interval


def penalise(session: Session, key: str, now: float | None = None) -> None:
    """The provider said "too fast": halve this bucket's rate and pause it for a second."""
    now = time.time() if now is None else now
    bucket = _load(session, key)
    bucket.factor = max(MIN_FACTOR, bucket.factor * 0.5)
    bucket.penalised_at = now
    bucket.next_at = max(bucket.next_at, now) + PENALTY_SECONDS
    session.add(bucket)
