"""The dispatch worker: claim due rows (replies first), send them at the shared rate through the
channels, record the results in batches. Any number run against PostgreSQL; one on SQLite.

One asyncio loop per worker; database work runs in a thread (`asyncio.to_thread`) so sends keep
flowing while a batch is claimed or results are written.

Claimed messages do not keep the slot they were claimed with: each rate bucket has a pacer that,
at each reserved slot, sends the most urgent message waiting (replies before bulk). So a reply
claimed during a blast goes out at the sender's next slot rather than behind the seconds of bulk
slots already reserved, and the worker looks for due replies every REPLY_POLL_SECONDS even when
its bulk pipeline is full.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import or_, select
from sqlmodel import Session, col

from core.aio import run_sync
from core.campaigns import has_ended
from core.clock import local, parse_hhmm, utcnow
from core.config import Settings, get_settings
from core.db import session_scope
from core.models import Campaign, Institution, OptOut
from dispatch import holds, limits, outbox, outcomes, quality, ratelimit
from dispatch.channels import make_channel
from dispatch.channels.base import (
    Action,
    AmbiguousError,
    Channel,
    ChannelError,
    ContentError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from dispatch.messages import build_message
from dispatch.models import Lane, Outbox, Status, Unreachable
from dispatch.reconcile import reconcile

log = logging.getLogger("spibot.dispatch")
T = Outbox.__table__  # type: ignore[attr-defined]
REPLY_POLL_SECONDS = 0.1
# `--once` waits for rows due within this long (retries after a short back-off) and stops when
# only later ones are left (deferred by the messaging limit, a marketing retry hours away).
ONCE_HORIZON_SECONDS = 300.0


def allowed_zones(now: datetime, zones: list[str], settings: Settings) -> list[str] | None:
    """Zones where bulk messages may go now (not quiet hours there); None = no quiet hours."""
    start, end = parse_hhmm(settings.quiet_start), parse_hhmm(settings.quiet_end)
    if start == end:
        return None
    out = []
    for tz in zones:
        t = local(now, tz).time()
        quiet = (t >= start or t < end) if start > end else (start <= t < end)
        if not quiet:
            out.append(tz)
    return out


@dataclass
class Stats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    ambiguous: int = 0
    blocked: int = 0
    deferred: int = 0  # waiting for the messaging-limit window (not failed)
    held: int = 0  # given back because their sender is held (not failed)
    cancelled: int = 0  # of a campaign that has closed: failed as cancelled, never sent
    reconciled: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed,
                "ambiguous": self.ambiguous, "blocked": self.blocked, "deferred": self.deferred,
                "held": self.held, "cancelled": self.cancelled, "reconciled": dict(self.reconciled)}


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed message: sent (`result`), refused (`error`), or not sent at
    all (neither: its lease ran short, or its sender was held meanwhile)."""

    item: outbox.Claimed
    result: SendResult | None = None
    error: ChannelError | None = None


@dataclass
class _Pacer:
    """One rate bucket's reserved slots (epoch seconds) and the messages waiting for one, most
    urgent first; both heaps always hold the same number of entries."""

    slots: list[float] = field(default_factory=list)
    waiting: list[tuple[int, int, outbox.Claimed]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Worker:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.channels: dict[str, Channel] = {}  # made inside the event loop (aiohttp needs one)
        self.results: list[Outcome] = []
        self.inflight = 0
        self._last_reconcile = 0.0  # monotonic time of the last reconcile / quality check
        self._last_quality = 0.0
        self.stats = Stats()
        self._zones: tuple[float, list[str]] = (0.0, [])
        spread = self.settings.rate_transit_spread_seconds
        self._windows: dict[str, ratelimit.AnswerWindow] = defaultdict(lambda: ratelimit.AnswerWindow(spread))
        # a send must reach the provider well before the lease ends (a request may take this long;
        # half the lease if the lease is configured shorter than that, as some tests do)
        self._lease_margin = min(self.settings.twilio_timeout_seconds + 2.0, self.settings.lease_seconds / 2)
        self.max_inflight = max(self.settings.worker_concurrency * 8, self.settings.worker_batch_size)
        self._pacers: dict[str, _Pacer] = {}
        self._seq = itertools.count()
        self._reply_polled = 0.0
        self._held: holds.Held = holds.Held()  # as of the last claim, plus holds this worker set

    # --- database side (runs in a thread) -------------------------------------------------------

    def _known_zones(self) -> list[str]:
        if time.monotonic() - self._zones[0] > 60:
            with session_scope() as s:
                zones = set(s.execute(select(col(Institution.timezone)).distinct()).scalars())
            zones |= {"Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "UTC"}
            self._zones = (time.monotonic(), sorted(zones))
        return self._zones[1]

    def _rate_for(self, channel: str) -> float:
        return self.settings.whatsapp_rate_per_sender if channel == "whatsapp" else self.settings.email_rate_per_server

    def _bucket(self, item: outbox.Claimed) -> str:
        if item.channel == "email":
            return ratelimit.bucket_key("email", f"{self.settings.smtp_host}:{self.settings.smtp_port}")
        return ratelimit.bucket_key("whatsapp", item.sender)

    def claim(self, limit: int, *, lane: int | None = None) -> list[tuple[outbox.Claimed, float]]:
        """Claim rows (none that a hold stops), drop those whose address is opted out or
        unreachable, put back those over the messaging limit, reserve rate slots for the rest."""
        now = utcnow()
        zones = allowed_zones(now, self._known_zones(), self.settings)
        with session_scope(write=True) as session:
            held = self._held = holds.current(session)
            items = outbox.claim(session, limit=limit, lease_seconds=self.settings.lease_seconds,
                                 allowed_zones=zones, now=now, lane=lane,
                                 exclude=held.excludes() if held else None)
            if not items:
                return []
            items = self._drop_closed(session, items, now)
            addrs = list({i.to_address for i in items if i.purpose != "reply"})
            opted, unreachable = set(), set()
            if addrs:
                opted = set(session.execute(select(col(OptOut.address)).where(outbox.in_values(session, OptOut.address, addrs))).scalars())
                unreachable = set(session.execute(select(col(Unreachable.address)).where(outbox.in_values(session, Unreachable.address, addrs))).scalars())
            keep: list[outbox.Claimed] = []
            for it in items:
                if it.purpose != "reply" and (it.to_address in opted or it.to_address in unreachable):
                    why = "opted_out" if it.to_address in opted else "unreachable"
                    outbox.mark_failed(session, it.id, it.attempt_id, code=None, error_class=why,
                                       message=f"not sent: address {why.replace('_', ' ')}", unreachable=False)
                    self.stats.blocked += 1
                else:
                    keep.append(it)
            admission = limits.admit(session, keep, limit=self.settings.whatsapp_daily_limit, now=now)
            limits.defer_rows(session, admission.deferred, note="waiting for the WhatsApp messaging-limit window")
            self.stats.deferred += len(admission.deferred)
            by_bucket: dict[str, list[outbox.Claimed]] = defaultdict(list)
            for it in admission.admitted:
                by_bucket[self._bucket(it)].append(it)
            scheduled: list[tuple[outbox.Claimed, float]] = []
            for key, group in by_bucket.items():
                start, interval = ratelimit.reserve(session, key, len(group), self._rate_for(group[0].channel))
                scheduled.extend((it, start + i * interval) for i, it in enumerate(group))
        scheduled.sort(key=lambda x: (x[0].lane, x[1]))
        return scheduled

    def _drop_closed(self, session: Session, items: list[outbox.Claimed], now: datetime) -> list[outbox.Claimed]:
        """Cancel (fail as `cancelled`, never send) the claimed messages of a campaign that has
        closed (core.campaigns.has_ended: by a person, or past its closing date); replies to what
        a respondent just wrote still go (e.g. "the survey has closed")."""
        ids = {i.campaign_id for i in items if i.purpose != "reply" and i.campaign_id is not None}
        if not ids:
            return items
        closed = {c.id for c in session.execute(select(Campaign).where(col(Campaign.id).in_(sorted(ids))))
                  .scalars() if has_ended(c, now)}
        if not closed:
            return items
        keep: list[outbox.Claimed] = []
        for it in items:
            if it.purpose != "reply" and it.campaign_id in closed:
                outbox.mark_failed(session, it.id, it.attempt_id, code=None, error_class="cancelled",
                                   message="not sent: the campaign has closed", unreachable=False)
                self.stats.cancelled += 1
            else:
                keep.append(it)
        return keep

    def write_results(self, results: list[Outcome]) -> None:
        sent, retry, ambiguous, unsent, penalise = [], [], [], [], set()
        with session_scope(write=True) as session:
            for o in results:
                it, err = o.item, o.error
                base = {"id": it.id, "attempt_id": it.attempt_id, "attempts": it.attempts}
                if o.result is not None:
                    sent.append({**base, "provider_id": o.result.provider_id, "status": o.result.status,
                                 "backend": o.result.backend})
                elif err is None:
                    unsent.append(base)
                elif isinstance(err, AmbiguousError):
                    ambiguous.append({**base, "code": err.code, "message": str(err)})
                elif isinstance(err, RetryableError):
                    retry.append({**base, "code": err.code, "error_class": err.reason, "message": str(err)})
                    if isinstance(err, RateLimitedError):
                        penalise.add(self._bucket(it))
                else:
                    ref = outcomes.Ref(id=it.id, attempt_id=it.attempt_id, attempts=it.attempts,
                                       channel=it.channel, sender=it.sender)
                    became = outcomes.after_error(session, ref, err)
                    if became == "failed":
                        self.stats.failed += 1
                    elif became == "deferred":
                        self.stats.deferred += 1
                    elif became == "held":
                        self.stats.held += 1
                    else:
                        self.stats.retried += 1
            outbox.mark_sent(session, sent)
            self.stats.failed += len(outbox.mark_retry(session, retry, max_attempts=self.settings.max_attempts))
            outbox.mark_ambiguous(session, ambiguous, delay=self.settings.reconcile_delay_seconds)
            outbox.release_unsent(session, unsent)
            for key in penalise:
                ratelimit.penalise(session, key)
        self.stats.sent += len(sent)
        self.stats.retried += len(retry)
        self.stats.ambiguous += len(ambiguous)
        self.stats.held += sum(1 for o in results if o.result is None and o.error is None and self._is_held(o.item))

    def _is_held(self, item: outbox.Claimed) -> bool:
        return self._held.holds(lane=item.lane, sender=item.sender, campaign_id=item.campaign_id,
                                wave=item.wave, channel=item.channel, purpose=item.purpose)

    def check_quality(self) -> None:
        with session_scope(write=True) as session:
            quality.check(session)

    def reply_due(self) -> bool:
        """A cheap read (no write lock): is a reply waiting to be claimed?"""
        cond = outbox.claimable(utcnow(), None) & (T.c.lane == Lane.reply)
        with session_scope() as s:
            return s.execute(select(T.c.id).where(cond).limit(1)).first() is not None

    def has_work(self) -> bool:
        """Anything this worker could still send soon: due within ONCE_HORIZON_SECONDS, not held,
        outside quiet hours; or in flight. Rows deferred to a later window do not count."""
        now = utcnow()
        zones = allowed_zones(now, self._known_zones(), self.settings)
        cond = (T.c.status == Status.pending) & (T.c.next_attempt_at <= now + timedelta(seconds=ONCE_HORIZON_SECONDS))
        if zones is not None:
            cond = cond & or_(T.c.lane == Lane.reply, T.c.tz.in_(zones))
        with session_scope() as s:
            held = holds.current(s)
            if held:
                cond = cond & held.excludes()
            return s.execute(select(T.c.id).where(or_(cond, T.c.status == Status.sending)).limit(1)).first() is not None

    # --- sending ----------------------------------------------------------------------------------

    def _queue(self, item: outbox.Claimed, at: float, sem: asyncio.Semaphore,
               tasks: set[asyncio.Task[None]]) -> None:
        """Hand a claimed message and its reserved slot to its bucket's pacer."""
        key = self._bucket(item)
        pacer = self._pacers.get(key)
        if pacer is None:
            pacer = self._pacers[key] = _Pacer()
            pacer.task = asyncio.create_task(self._pace(pacer, sem, tasks))
        heapq.heappush(pacer.slots, at)
        heapq.heappush(pacer.waiting, (item.lane, next(self._seq), item))
        pacer.wake.set()

    async def _pace(self, pacer: _Pacer, sem: asyncio.Semaphore, tasks: set[asyncio.Task[None]]) -> None:
        """At each reserved slot, start the most urgent waiting message (replies first)."""
        while True:
            if not pacer.waiting:
                pacer.wake.clear()
                await pacer.wake.wait()
                continue
            delay = pacer.slots[0] - time.time()
            if delay > 0:
                await asyncio.sleep(delay)  # later claims only add later slots
            heapq.heappop(pacer.slots)
            _, _, item = heapq.heappop(pacer.waiting)
            task = asyncio.create_task(self._send_one(item, sem))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _send_one(self, item: outbox.Claimed, sem: asyncio.Semaphore) -> None:
        try:
            async with sem:
                outcome = await self._attempt(item)
            # Only now look up the list: `_flush` swaps `self.results` while a send is awaited, and
            # `self.results.append(await ...)` would append to the list already written (lost).
            self.results.append(outcome)
        finally:
            self.inflight -= 1

    async def _attempt(self, item: outbox.Claimed) -> Outcome:
        if self._is_held(item):  # its sender was held since the claim: give it back unsent
            return Outcome(item)
        try:
            message = build_message(item)  # before the window: no work between start and send
        except (TemplateError, KeyError, ValueError) as exc:
            return Outcome(item, error=ContentError(f"cannot build the message: {exc}", code="content"))
        rate = self._rate_for(item.channel)
        window = self._windows[self._bucket(item)] if rate > 0 else None
        started = await window.acquire(max(1, int(rate))) if window is not None else 0.0
        if (item.lease_until - utcnow()).total_seconds() < self._lease_margin:
            # Past its lease a reconcile may find the row, see nothing at the provider and reopen
            # it: sending now could send twice. Give it back unsent.
            if window is not None:
                window.cancel()
            return Outcome(item)
        try:
            return Outcome(item, result=await self.channels[item.channel].send(message))
        except ChannelError as exc:
            if exc.action is Action.hold:  # stop this sender's other waiting messages at once
                self._held = self._held.with_sender(item.sender)
            return Outcome(item, error=exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the row: retry later
            log.exception("unexpected error sending outbox row %s", item.id)
            return Outcome(item, error=RetryableError(f"internal: {type(exc).__name__}"))
        finally:
            if window is not None:
                window.release(started)

    async def _flush(self) -> None:
        if not self.results:
            return
        batch, self.results = self.results, []
        try:
            await asyncio.to_thread(self.write_results, batch)
        except Exception:  # noqa: BLE001 - database hiccup: keep the results and try again
            log.exception("could not record %d results; retrying", len(batch))
            self.results = batch + self.results
            await asyncio.sleep(0.5)

    async def run(self, stop: threading.Event | None = None, *, until_idle: bool = False,
                  timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        """Send until `stop` is set (or, `until_idle`, nothing more may go now; or `timeout`)."""
        stop = stop or threading.Event()
        self.channels = {n: make_channel(n, self.settings) for n in ("whatsapp", "email")}
        sem = asyncio.Semaphore(self.settings.worker_concurrency)
        deadline = time.monotonic() + timeout if timeout else None
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set() and not (deadline and time.monotonic() > deadline):
                await self._housekeeping(reconcile_every=1.0 if until_idle else 15.0)
                batch = await self._claim_next()
                for item, at in batch:
                    self.inflight += 1
                    self._queue(item, at, sem, tasks)
                if batch:
                    await asyncio.sleep(0)
                    continue
                await self._flush()
                if until_idle and self.inflight == 0 and not self.results:
                    if not await asyncio.to_thread(self.has_work):
                        break
                await asyncio.sleep(0.05 if self.inflight else (0.2 if until_idle else 1.0))
        finally:
            await self._shutdown(tasks)
        return self.stats.as_dict()

    async def _housekeeping(self, *, reconcile_every: float) -> None:
        """Between claims: reconcile expired leases, check the senders' quality, write results."""
        if time.monotonic() - self._last_reconcile > reconcile_every:
            self._last_reconcile = time.monotonic()
            try:
                for k, v in (await reconcile(self.channels)).items():
                    self.stats.reconciled[k] += v
            except Exception:  # noqa: BLE001
                log.exception("reconcile failed")
        if time.monotonic() - self._last_quality > quality.QUALITY_CHECK_SECONDS:
            self._last_quality = time.monotonic()
            try:
                await asyncio.to_thread(self.check_quality)
            except Exception:  # noqa: BLE001
                log.exception("quality check failed")
        if len(self.results) >= 250:
            await self._flush()

    async def _claim_next(self) -> list[tuple[outbox.Claimed, float]]:
        """A batch while the pipeline has room; when it is full, still replies (promptly)."""
        room = self.max_inflight - self.inflight
        try:
            if room >= min(50, self.max_inflight // 4):
                return await asyncio.to_thread(self.claim, min(room, self.settings.worker_batch_size))
            if time.monotonic() - self._reply_polled >= REPLY_POLL_SECONDS:
                self._reply_polled = time.monotonic()
                if await asyncio.to_thread(self.reply_due):
                    return await asyncio.to_thread(self.claim, 50, lane=Lane.reply)
        except Exception:  # noqa: BLE001
            log.exception("claim failed")
            await asyncio.sleep(1.0)
        return []

    async def _shutdown(self, tasks: set[asyncio.Task[None]]) -> None:
        """Send what is claimed, record every outcome, close the channels."""
        while any(p.waiting for p in self._pacers.values()):  # noqa: ASYNC110 - claimed: send first
            await asyncio.sleep(0.05)
        for pacer in self._pacers.values():
            if pacer.task is not None:
                pacer.task.cancel()
        self._pacers.clear()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for _ in range(5):  # the database may be gone: rows left in `sending` get reconciled
            if not self.results:
                break
            await self._flush()
        for ch in self.channels.values():
            await ch.close()


def run_until_idle(*, timeout: float = 30) -> dict[str, Any]:
    """Process until nothing is due (or `timeout` seconds); returns counts. For tests and demos."""
    return dict(run_sync(lambda: Worker().run(until_idle=True, timeout=timeout)))


def run_worker_thread(stop_event: threading.Event) -> threading.Thread:
    """One worker in a background thread (the embedded default), until `stop_event` is set."""

    def target() -> None:
        try:
            asyncio.run(Worker().run(stop_event))
        except Exception:  # noqa: BLE001
            log.exception("dispatch worker stopped")

    thread = threading.Thread(target=target, name="dispatch-worker", daemon=True)
    thread.start()
    return thread


def run_forever(*, once: bool = False) -> dict[str, Any]:
    """`spibot worker`: until SIGTERM/SIGINT (or, with --once, until idle)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("dispatch worker %s started", os.getpid())
    return dict(asyncio.run(Worker().run(stop, until_idle=once)))
