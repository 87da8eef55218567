"""Send rates shared by every worker: per WhatsApp sender and per SMTP server.

Two layers:

1. The shared schedule. Each bucket is one database row holding the time of its next free slot. A
   worker reserves `n` slots at once (one short write transaction per claimed batch, not per
   message) and then starts message i at `start + i * interval`, the interval being the cap's
   inverse with HEADROOM. Slots never overlap whoever reserves them, however many workers run on
   however many machines. On a rate-limit answer (429/20429/63018) the bucket's `factor` halves and
   the next slot moves back a second; it recovers by 10% per clean reservation.

2. `AnswerWindow`, in each worker process: a message counts against the cap from the moment its
   request starts until one second after min(its answer, its start + RATE_TRANSIT_SPREAD_SECONDS).
   A message may only start while fewer than `cap` others count. The provider receives a request
   between its start and its answer, and requests differ in transit time by at most the spread
   (a constant transit time shifts every arrival alike), so no 1-second window *at the provider*
   ever holds more than `cap` of this worker's messages (proof in `AnswerWindow`). With the spread
   at `inf` this holds whatever the delays, but each message then occupies its round trip + 1 s,
   which against a remote provider (RTT 0.2 s) would cost a sixth of the rate; the default 30 ms
   costs at most 3%. On a quiet link it never binds (the schedule runs at 97%); when the machine
   or the link stalls it holds sends back instead of letting a backlog arrive bunched.

The schedule runs on the database's clock (PostgreSQL: `clock_timestamp()`), handed to each
worker as an offset from its own clock, so machines whose clocks disagree still share one
schedule. A slot is a right to start *at* that moment, not a credit: a worker that falls behind
(a stalled process, a slow claim) forfeits the slots it missed by more than LATE_SLOT_SECONDS
and reserves new ones (worker `_pace`), so a backlog never leaves in a burst, and a worker that
died or restarted has no unused allowance to spend. A rate-limited answer slows the bucket only
when such answers are a real share of what the bucket sent (RATE_LIMITED_SHARE), at most once per
PENALTY_SECONDS: a few random 429s of a busy provider retry those messages, not the whole sender.

Note: the schedule assumes each claim's slots are used soon, so workers claim only
CLAIM_AHEAD_SECONDS of a bucket's rate at a time (a dead worker strands at most that much).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time

from sqlalchemy import select, text
from sqlmodel import Session

from core.db import insert_for
from dispatch.models import RateBucket

# The schedule aims 3% under the cap: `AnswerWindow` then binds only when a message takes more
# than ~30 ms between its start and its answer, and workers sharing a bucket tolerate that much
# lag between each other's slots.
HEADROOM = 0.97
WINDOW_SECONDS = 1.0
MIN_FACTOR = 0.1
PENALTY_SECONDS = 1.0
RECOVERY = 1.1
QUIET_AFTER_PENALTY = 5.0
# A slot missed by more than this is forfeited (the message takes a new one), never spent late.
LATE_SLOT_SECONDS = 0.02
# ... by the pacer; a message its process's AnswerWindow held back may start this late (the window
# already bounds this process's arrivals; a stalled process's backlog is over this).
LATE_START_SECONDS = 0.1
# A worker holds at most this many seconds of a bucket's rate claimed and waiting for slots.
CLAIM_AHEAD_SECONDS = 2.0
# Rate-limited answers slow the bucket only above this share of one batch's requests to it.
RATE_LIMITED_SHARE = 0.25
RATE_LIMITED_WINDOW_SECONDS = 5.0  # ... of the requests a worker sent it in this long ...
RATE_LIMITED_MIN_REQUESTS = 8  # ... once there are this many
SLOT_LEAD_SECONDS = 0.05  # `reserve(lead=...)` for workers


def bucket_key(channel: str, sender: str) -> str:
    if channel == "email":
        return f"smtp:{sender}"
    return f"wa:{sender}"


def _load(session: Session, key: str) -> RateBucket:
    bucket: RateBucket | None = session.execute(
        select(RateBucket).where(RateBucket.key == key).with_for_update()  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if bucket is None:
        # Concurrent first use: insert-or-ignore, then lock the row.
        ins = insert_for(session, RateBucket.__table__)  # type: ignore[attr-defined]
        session.execute(ins.values(key=key, next_at=0.0, factor=1.0, penalised_at=0.0).on_conflict_do_nothing())
        bucket = session.execute(
            select(RateBucket).where(RateBucket.key == key).with_for_update()  # type: ignore[arg-type]
        ).scalar_one()
    return bucket


def clock(session: Session) -> float:
    """The schedule's clock in epoch seconds: the database server's on PostgreSQL (one clock for
    every machine), this machine's on SQLite (one machine)."""
    if session.get_bind().dialect.name == "postgresql":
        return float(session.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
    return time.time()


def lock(session: Session, key: str) -> None:
    """Hold the row lock of bucket `key` until the caller commits (serialises a shared decision,
    e.g. the messaging limit's admissions, across workers; SQLite's write lock already does)."""
    _load(session, key)


def reserve(session: Session, key: str, n: int, rate: float, now: float | None = None, *,
            lead: float = 0.0) -> tuple[float, float]:
    """Reserve `n` slots; returns (start epoch seconds, interval between slots). The caller commits.

    A rate <= 0 means uncapped: (now, 0.0) and no database work. Without `now`, the schedule runs
    on `clock(session)` and the start is returned on this machine's clock (`time.time()`).
    `lead`: an idle bucket's first slot comes this long after now (time to commit and hand the
    slots over, so the first one is not already missed, LATE_SLOT_SECONDS).
    """
    if rate <= 0 or n <= 0:
        return (time.time() if now is None else now), 0.0
    bucket = _load(session, key)
    offset = 0.0
    if now is None:  # read the clock after the lock: the offset must not include the wait for it
        before = time.time()
        now = clock(session)
        offset = (before + time.time()) / 2 - now
    if bucket.factor < 1.0 and now - bucket.penalised_at > QUIET_AFTER_PENALTY:
        bucket.factor = min(1.0, bucket.factor * RECOVERY)
    interval = 1.0 / (rate * HEADROOM * bucket.factor)
    start = max(bucket.next_at, now + lead)
    bucket.next_at = start + n * interval
    session.add(bucket)
    return start + offset, interval


def penalise(session: Session, key: str, now: float | None = None) -> bool:
    """The provider said "too fast" (to a real share of a batch, RATE_LIMITED_SHARE): halve this
    bucket's rate and pause it for a second, at most once per PENALTY_SECONDS whoever asks (three
    workers seeing the same burst of 429s slow the sender once). True if it did."""
    bucket = _load(session, key)
    now = clock(session) if now is None else now
    if now - bucket.penalised_at < PENALTY_SECONDS:
        return False
    bucket.factor = max(MIN_FACTOR, bucket.factor * 0.5)
    bucket.penalised_at = now
    bucket.next_at = max(bucket.next_at, now) + PENALTY_SECONDS
    session.add(bucket)
    return True


class AnswerWindow:
    """At most `cap` messages of one bucket in any 1-second window at the provider.

    Each message counts from its start until WINDOW_SECONDS after min(answer, start + spread); a
    message starts only while fewer than `cap` count. Why that is enough: suppose `cap + 1`
    messages arrived at the provider within [t, t + 1). Let B be the one that started last. Every
    other one, A, started before B. (i) answer(A) >= arrival(A) >= t > arrival(B) - 1 >= start(B) - 1.
    (ii) With transit times differing by at most `spread`: start(A) + spread >= arrival(A) -
    arrival(B) + start(B) > start(B) - 1. So A still counted when B started, and B could not start.
    A timed-out request counts as answered when we gave up on it.

    One per bucket per worker process; the shared schedule keeps workers apart.
    """

    def __init__(self, spread: float = math.inf) -> None:
        self.spread = spread
        self.open = 0  # started, not answered yet
        self.until: list[float] = []  # heap: monotonic time each answered message stops counting
        self.answered = asyncio.Event()

    def counting(self, now: float) -> int:
        until = self.until
        while until and until[0] <= now:
            heapq.heappop(until)
        return self.open + len(until)

    async def acquire(self, cap: int) -> float:
        """Wait until this message may start, count it, and return its start (monotonic)."""
        while True:
            now = time.monotonic()
            if self.counting(now) < cap:
                self.open += 1
                return now
            if self.until:  # the earliest answered message stops counting then
                await asyncio.sleep(self.until[0] - now)
            else:  # all `cap` still in flight: wait for an answer
                self.answered.clear()
                await self.answered.wait()

    def cancel(self) -> None:
        """Counted but not sent after all."""
        self.open -= 1
        self.answered.set()

    def release(self, started: float) -> None:
        """The answer to the message started at `started` came back (or we gave up waiting)."""
        self.open -= 1
        heapq.heappush(self.until, min(time.monotonic(), started + self.spread) + WINDOW_SECONDS)
        self.answered.set()
