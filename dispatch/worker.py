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
import math
import os
import signal
import threading
import time
from collections import defaultdict, deque
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
from core.metrics import SEND_ERRORS, SENDS, serve_process_metrics
from core.models import Campaign, Institution, OptOut
from dispatch import alerts, holds, limits, outbox, outcomes, quality, ratelimit
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
IDLE_POLL_SECONDS = 0.5  # nothing claimed, nothing in flight: look again this soon
RECONCILE_EVERY_SECONDS = 2.0  # a pass is cheap when no lease expired (one indexed read)
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
    requested: bool = False  # a request left for the provider: this attempt counts


@dataclass
class _Pacer:
    """One rate bucket's reserved slots (epoch seconds) and the messages waiting for one, most
    urgent first; both heaps always hold the same number of entries."""

    slots: list[float] = field(default_factory=list)
    waiting: list[tuple[int, int, outbox.Claimed]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    key: str = ""
    rate: float = 0.0  # the bucket's cap (0: uncapped: slots are never missed)


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
        self._stopping = False  # set on stop: what has not reached the provider is given back
        self._beat_at, self._started = 0.0, utcnow()  # heartbeat (dispatch.alerts.beat)
        self._slot_of: dict[int, float] = {}  # outbox id -> the slot its pacer started it at
        self._reconciling: asyncio.Task[dict[str, int]] | None = None
        # per bucket: (monotonic time, rate limited?) of this worker's recent requests
        self._answers: dict[str, deque[tuple[float, bool]]] = defaultdict(deque)

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
                opted = set(session.execute(select(col(OptOut.address))
                                            .where(outbox.in_values(session, OptOut.address, addrs))).scalars())
                unreachable = set(session.execute(
                    select(col(Unreachable.address))
                    .where(outbox.in_values(session, Unreachable.address, addrs))).scalars())
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
                start, interval = ratelimit.reserve(session, key, len(group), self._rate_for(group[0].channel),
                                                    lead=ratelimit.SLOT_LEAD_SECONDS)
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

    def _rate_limited_buckets(self, results: list[Outcome]) -> set[str]:
        """Buckets whose rate-limited answers to this worker passed RATE_LIMITED_SHARE of at least
        RATE_LIMITED_MIN_REQUESTS requests in the last RATE_LIMITED_WINDOW_SECONDS: the provider
        means it (a few random 429s only retry their messages)."""
        now = time.monotonic()
        for o in results:
            if o.requested:
                self._answers[self._bucket(o.item)].append((now, isinstance(o.error, RateLimitedError)))
        out = set()
        for key, seen in self._answers.items():
            while seen and seen[0][0] < now - ratelimit.RATE_LIMITED_WINDOW_SECONDS:
                seen.popleft()
            limited = sum(1 for _, r in seen if r)
            if len(seen) >= ratelimit.RATE_LIMITED_MIN_REQUESTS and limited >= ratelimit.RATE_LIMITED_SHARE * len(seen):
                out.add(key)
                seen.clear()
        return out

    def write_results(self, results: list[Outcome]) -> None:
        sent, retry, ambiguous, unsent = [], [], [], []
        penalise = self._rate_limited_buckets(results)
        with session_scope(write=True) as session:
            for o in results:
                it, err = o.item, o.error
                # `attempts` counts requests that left (dispatch.outbox): this one if it did
                attempts = it.attempts + int(o.requested)
                base = {"id": it.id, "attempt_id": it.attempt_id, "attempts": attempts}
                if o.result is not None:
                    sent.append({**base, "provider_id": o.result.provider_id, "status": o.result.status,
                                 "backend": o.result.backend})
                elif err is None:
                    unsent.append(base)
                elif isinstance(err, AmbiguousError):
                    ambiguous.append({**base, "code": err.code, "message": str(err)})
                elif isinstance(err, RetryableError):
                    retry.append({**base, "code": err.code, "error_class": err.reason, "message": str(err),
                                  "requested": o.requested})
                else:
                    if o.requested:
                        outbox.count_attempt(session, it.id, it.attempt_id)
                    ref = outcomes.Ref(id=it.id, attempt_id=it.attempt_id, attempts=attempts,
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
        for o in results:  # recorded: /metrics' sends per sender, errors by class and code
            if o.result is not None:
                SENDS.labels(o.item.channel, o.item.sender).inc()
            elif o.error is not None:
                SEND_ERRORS.labels(o.item.channel, o.error.error_class, o.error.code or "").inc()
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
            pacer = self._pacers[key] = _Pacer(key=key, rate=self._rate_for(item.channel))
            pacer.task = asyncio.create_task(self._pace(pacer, sem, tasks))
        heapq.heappush(pacer.slots, at)
        heapq.heappush(pacer.waiting, (item.lane, next(self._seq), item))
        pacer.wake.set()

    def _reserve_slots(self, key: str, n: int, rate: float) -> list[float]:
        """`n` new slots of bucket `key` (epoch seconds, this machine's clock)."""
        if rate <= 0:
            return [time.time()] * n
        with session_scope(write=True) as session:
            start, interval = ratelimit.reserve(session, key, n, rate, lead=ratelimit.SLOT_LEAD_SECONDS)
        return [start + i * interval for i in range(n)]

    async def _pace(self, pacer: _Pacer, sem: asyncio.Semaphore, tasks: set[asyncio.Task[None]]) -> None:
        """At each reserved slot, start the most urgent waiting message (replies first). A slot
        missed by more than LATE_SLOT_SECONDS (this process stalled) is forfeited, never spent
        late; messages left without a slot get new ones from the shared schedule."""
        while True:
            if not pacer.waiting:
                pacer.wake.clear()
                await pacer.wake.wait()
                continue
            if not pacer.slots:
                try:
                    fresh = await asyncio.to_thread(self._reserve_slots, pacer.key, len(pacer.waiting), pacer.rate)
                except Exception:  # noqa: BLE001 - database hiccup: try again shortly
                    log.exception("could not reserve rate slots")
                    await asyncio.sleep(0.5)
                    continue
                for at in fresh:
                    heapq.heappush(pacer.slots, at)
                continue
            delay = pacer.slots[0] - time.time()
            if delay > 0:
                await asyncio.sleep(delay)  # later claims only add later slots
            slot = heapq.heappop(pacer.slots)
            if pacer.rate > 0 and time.time() - slot > ratelimit.LATE_SLOT_SECONDS:
                continue  # missed: the message waits for a slot of its own
            _, _, item = heapq.heappop(pacer.waiting)
            self._slot_of[item.id] = slot
            task = asyncio.create_task(self._send_one(item, sem))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _send_one(self, item: outbox.Claimed, sem: asyncio.Semaphore) -> None:
        try:
            async with sem:  # stopping: a message not yet started goes back unsent (release)
                outcome = Outcome(item) if self._stopping else await self._attempt(item)
            # Only now look up the list: `_flush` swaps `self.results` while a send is awaited, and
            # `self.results.append(await ...)` would append to the list already written (lost).
            self.results.append(outcome)
        finally:
            self.inflight -= 1

    async def _attempt(self, item: outbox.Claimed) -> Outcome:
        slot = self._slot_of.pop(item.id, None)
        if self._is_held(item):  # its sender was held since the claim: give it back unsent
            return Outcome(item)
        try:
            message = build_message(item)  # before the window: no work between start and send
        except (TemplateError, KeyError, ValueError) as exc:
            return Outcome(item, error=ContentError(f"cannot build the message: {exc}", code="content"))
        rate = self._rate_for(item.channel)
        key = self._bucket(item)
        window = self._windows[key] if rate > 0 else None
        while True:
            started = await window.acquire(max(1, int(rate))) if window is not None else 0.0
            if window is None or slot is None or time.time() - slot <= ratelimit.LATE_START_SECONDS:
                break
            # Held past its slot (the window, a stall): a new slot, never a late one, so no two
            # workers' messages bunch at the provider.
            window.cancel()
            try:
                [slot] = await asyncio.to_thread(self._reserve_slots, key, 1, rate)
            except Exception:  # noqa: BLE001 - database hiccup: give it back unsent
                log.exception("could not reserve a rate slot")
                return Outcome(item)
            await asyncio.sleep(max(0.0, slot - time.time()))
        if (item.lease_until - utcnow()).total_seconds() < self._lease_margin:
            # Past its lease a reconcile may find the row, see nothing at the provider and reopen
            # it: sending now could send twice. Give it back unsent.
            if window is not None:
                window.cancel()
            return Outcome(item)
        try:
            # the request leaves now: this attempt counts whatever the answer
            return Outcome(item, result=await self.channels[item.channel].send(message), requested=True)
        except ChannelError as exc:
            if exc.action is Action.hold:  # stop this sender's other waiting messages at once
                self._held = self._held.with_sender(item.sender)
            return Outcome(item, error=exc, requested=True)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the row: retry later
            log.exception("unexpected error sending outbox row %s", item.id)
            return Outcome(item, error=RetryableError(f"internal: {type(exc).__name__}"), requested=True)
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
                await self._housekeeping(reconcile_every=1.0 if until_idle else RECONCILE_EVERY_SECONDS)
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
                await asyncio.sleep(0.05 if self.inflight else (0.2 if until_idle else IDLE_POLL_SECONDS))
        finally:
            if self._reconciling is not None:  # its rows' reconcile lease lets another take them
                self._reconciling.cancel()
                await asyncio.gather(self._reconciling, return_exceptions=True)
            await self._shutdown(tasks)
        return self.stats.as_dict()

    async def _housekeeping(self, *, reconcile_every: float) -> None:
        """Between claims: reconcile expired leases, check the senders' quality, write results."""
        if time.monotonic() - self._beat_at > alerts.HEARTBEAT_SECONDS:  # the silent-worker alert
            self._beat_at = time.monotonic()
            try:
                await asyncio.to_thread(alerts.beat, alerts.worker_id(), self._started, self.stats.sent)
            except Exception:  # noqa: BLE001
                log.exception("heartbeat failed")
        # Reconcile runs beside the claim loop (its look-ups never hold sends back), one pass at
        # a time; each pass takes its rows, so no other worker looks them up too.
        task = self._reconciling
        if task is not None and task.done():
            self._reconciling = None
            try:
                for k, v in task.result().items():
                    self.stats.reconciled[k] += v
            except Exception:  # noqa: BLE001
                log.exception("reconcile failed")
        if self._reconciling is None and time.monotonic() - self._last_reconcile > reconcile_every:
            self._last_reconcile = time.monotonic()
            self._reconciling = asyncio.create_task(reconcile(self.channels))
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
        # Claim only CLAIM_AHEAD_SECONDS of each capped bucket's rate beyond what waits for a slot:
        # rows claimed far ahead would sit out a dead worker's lease, its reserved slots unused.
        least = min(50, self.max_inflight // 4)
        rate = max(self.settings.whatsapp_rate_per_sender, self.settings.email_rate_per_server)
        if rate > 0:
            ahead = math.ceil(rate * ratelimit.CLAIM_AHEAD_SECONDS) * max(1, len(self._pacers))
            room = min(room, ahead - sum(len(p.waiting) for p in self._pacers.values()))
            least = min(least, max(1, ahead // 4))
        try:
            if room >= least:
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
        """Stop (SIGTERM, a rolling restart): requests already at the provider finish and are
        recorded; claimed messages not yet sent go back to pending at once, their attempt not
        counted (`outbox.release_unsent`), for any worker to send. Then close the channels. All
        well within the lease: nothing is left for reconcile."""
        self._stopping = True
        pacers = list(self._pacers.values())
        self._pacers.clear()
        for pacer in pacers:
            if pacer.task is not None:
                pacer.task.cancel()
        await asyncio.gather(*(p.task for p in pacers if p.task is not None), return_exceptions=True)
        for pacer in pacers:  # waiting for a rate slot: never started
            for _, _, item in pacer.waiting:
                self.results.append(Outcome(item))
                self.inflight -= 1
            pacer.waiting.clear()
            pacer.slots.clear()
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
    serve_process_metrics()  # METRICS_PORT set: this process serves its own /metrics (core.metrics)
    return dict(asyncio.run(Worker().run(stop, until_idle=once)))
