"""The registration writer: one thread per web process writes the walk-in registrations, a batch
of whatever is waiting in one transaction.

Why: when many phones post the form at once, one thread per request would queue them all on the
database's write lock (SQLite) and on the GIL, and pay a BEGIN/COMMIT and the same campaign,
unit and institution reads each. Here the async route validates the form in the event loop,
hands the registration to this thread and awaits the outcome; the thread takes up to `BATCH`
waiting registrations and writes them in one transaction. Each registration is still decided on
its own, in order, against the rows written before it in the same transaction: the campaign
re-read (a campaign closed since the cached view takes nothing), the per-counter limit, and the
one-active-registration-per-number rule. If the batch fails as a whole, every registration in
it is redone in its own transaction, so one bad registration never fails the others.

Registrations are taken in phone-number order within a batch, so two web processes' batches
take PostgreSQL's per-number advisory locks in the same order and cannot deadlock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlmodel import Session

from core.assignments import link_of
from core.config import get_settings
from core.models import Assignment, Campaign, Institution, Unit
from qr import ratelimit, service
from qr.service import CampaignState
from qr.validation import VisitorForm

log = logging.getLogger(__name__)
BATCH = 64


@dataclass(frozen=True)
class Saved:
    """The outcome of one registration."""

    path: str | None = None  # the questionnaire to open
    refused: str | None = None  # "rate_counter", or "state" (the campaign takes none now)
    campaign: Campaign | None = None  # the campaign as re-read, when refused for its state


@dataclass(frozen=True)
class Job:
    database_url: str
    campaign_id: int
    unit: Unit  # detached, read only
    counter: str | None
    form: VisitorForm
    done: Callable[[Saved | BaseException], None]


class _Batch:
    """What one transaction's registrations share: the campaign, its institution and the unit
    read once (and kept referenced, so the dispatch package finds them in the session's identity
    map), the per-counter counts, and the batch's numbers locked and looked up at once."""

    def __init__(self, session: Session, jobs: list[Job]) -> None:
        self.session, self.jobs = session, jobs
        self.campaigns: dict[int, Campaign | None] = {}
        self.keep: list[object] = []
        self.counts: dict[tuple[int, int, str | None], int] = {}
        self.known: dict[int, dict[str, Assignment]] = {}

    def campaign(self, campaign_id: int) -> Campaign | None:
        if campaign_id not in self.campaigns:
            campaign = self.session.get(Campaign, campaign_id)
            if campaign is not None:
                self.keep.append(self.session.get(Institution, campaign.institution_id))
            self.campaigns[campaign_id] = campaign
        return self.campaigns[campaign_id]

    def recent(self, job: Job) -> int:
        key = (job.campaign_id, int(job.unit.id), job.counter)  # type: ignore[arg-type]
        if key not in self.counts:
            self.keep.append(self.session.get(Unit, job.unit.id))
            self.counts[key] = ratelimit.counter_registrations(
                self.session, job.campaign_id, key[1], job.counter,
                get_settings().qr_counter_window_seconds)
        return self.counts[key]

    def known_numbers(self, campaign_id: int) -> dict[str, Assignment]:
        if campaign_id not in self.known:
            phones = [j.form.phone for j in self.jobs if j.campaign_id == campaign_id and j.form.phone]
            self.known[campaign_id] = service.lock_and_find_phones(self.session, campaign_id, phones)
        return self.known[campaign_id]

    def save(self, job: Job) -> Saved:
        """Decide and write one registration, after those before it in the batch."""
        campaign = self.campaign(job.campaign_id)
        if service.campaign_state(campaign) != CampaignState.open:
            return Saved(refused="state", campaign=campaign)
        assert campaign is not None
        if self.recent(job) >= get_settings().qr_counter_limit:
            return Saved(refused="rate_counter")
        assignment = service.register(self.session, campaign=campaign, unit=job.unit,
                                      counter=job.counter, form=job.form,
                                      known=self.known_numbers(job.campaign_id))
        self.counts[(job.campaign_id, int(job.unit.id), job.counter)] += 1  # type: ignore[arg-type]
        return Saved(path=urlsplit(link_of(assignment)).path)


def write_batch(jobs: list[Job]) -> None:
    """Write `jobs` (one database) in one transaction; if that fails, each in its own."""
    jobs = sorted(jobs, key=lambda j: j.form.phone or "")
    try:
        with service.write_scope(jobs[0].database_url) as session:
            batch = _Batch(session, jobs)
            results = [batch.save(job) for job in jobs]
    except Exception as exc:  # noqa: BLE001 - handed to the waiting request, or redone one by one
        if len(jobs) == 1:
            jobs[0].done(exc)
            return
        log.warning("a batch of %d registrations failed; writing them one by one", len(jobs))
        for job in jobs:
            write_batch([job])
        return
    for job, result in zip(jobs, results, strict=True):
        job.done(result)


class Writer:
    """The per-process writer thread (started on first use, and again after a fork)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid = 0

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                threading.Thread(target=self._run, args=(self._queue,), name="qr-writer",
                                 daemon=True).start()
            self._queue.put(job)

    @staticmethod
    def _run(jobs: queue.SimpleQueue[Job]) -> None:
        while True:
            batch = [jobs.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            by_database: dict[str, list[Job]] = {}
            for job in batch:
                by_database.setdefault(job.database_url, []).append(job)
            for group in by_database.values():
                try:
                    write_batch(group)
                except BaseException as exc:  # noqa: BLE001 - never leave a request waiting
                    log.exception("registration writer failed")
                    for job in group:
                        job.done(exc)


writer = Writer()


async def save(campaign_id: int, unit: Unit, counter: str | None, form: VisitorForm) -> Saved:
    """Hand one validated registration to the writer and wait for its outcome."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Saved] = loop.create_future()

    def resolve(result: Saved | BaseException) -> None:
        if future.done():
            return
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    def done(result: Saved | BaseException) -> None:
        try:
            loop.call_soon_threadsafe(resolve, result)
        except RuntimeError:  # the request's event loop is gone (client or server went away)
            pass

    writer.submit(Job(get_settings().database_url, campaign_id, unit, counter, form, done))
    return await future
