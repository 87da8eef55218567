"""The registration writer: one thread per web process writes the walk-in registrations, a batch
of whatever is waiting in one transaction.

Why: when many phones post the form at once, one thread per request would queue them all on the
database's write lock (SQLite) and on the GIL, and pay a BEGIN/COMMIT and the same campaign,
unit and institution reads each. Here the async route validates the form in the event loop,
hands the registration to this thread (`core.batchwriter`) and awaits the outcome; the thread takes up to `BATCH`
waiting registrations and writes them in one transaction. Each registration is still decided on
its own, in order, against the rows written before it in the same transaction: the campaign
re-read (a campaign closed since the cached view takes nothing), the per-counter limit, and the
one-active-registration-per-number rule. If the batch fails as a whole, every registration in
it is redone in its own transaction, so one bad registration never fails the others.

Registrations are taken in phone-number order within a batch, so two web processes' batches
take PostgreSQL's per-number advisory locks in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert
from sqlmodel import Session

from core.batchwriter import BatchWriter, deliver
from core.clock import utcnow
from core.config import get_settings
from core.db import write_scope
from core.models import (
    Assignment,
    AssignmentKind,
    Campaign,
    Group,
    Institution,
    Person,
    PersonStatus,
    Unit,
)
from core.tokens import hash_token, new_nonce, survey_url, token_for
from qr import notify, ratelimit, service
from qr.service import CampaignState
from qr.validation import VisitorForm

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


@dataclass
class _New:
    """A registration decided in this batch, before and after its rows are inserted."""

    job: Job
    campaign: Campaign
    existing: Assignment | _New | None  # the number's active assignment, if it has one
    nonce: str
    token_hash: bytes
    path: str
    person_id: int = 0
    assignment_id: int = 0


class _Batch:
    """What one transaction's registrations share: the campaign and its institution read once,
    the per-counter counts, and the batch's numbers locked and looked up at once. Each
    registration is decided in order in Python; then the batch's people, assignments and link
    messages are written with one multi-row INSERT each (Core, not ORM objects)."""

    def __init__(self, session: Session, jobs: list[Job]) -> None:
        self.session, self.jobs = session, jobs
        self.campaigns: dict[int, tuple[Campaign, Institution] | None] = {}
        self.counts: dict[tuple[int, int, str | None], int] = {}
        self.known: dict[int, dict[str, Assignment | _New]] = {}

    def campaign(self, campaign_id: int) -> Campaign | None:
        if campaign_id not in self.campaigns:
            campaign = self.session.get(Campaign, campaign_id)
            institution = (self.session.get(Institution, campaign.institution_id)
                           if campaign is not None else None)
            self.campaigns[campaign_id] = ((campaign, institution)
                                           if campaign is not None and institution is not None
                                           else None)
        found = self.campaigns[campaign_id]
        return found[0] if found else None

    def recent(self, job: Job) -> int:
        key = (job.campaign_id, int(job.unit.id), job.counter)  # type: ignore[arg-type]
        if key not in self.counts:
            self.counts[key] = ratelimit.counter_registrations(
                self.session, job.campaign_id, key[1], job.counter,
                get_settings().qr_counter_window_seconds)
        return self.counts[key]

    def known_numbers(self, campaign_id: int) -> dict[str, Assignment | _New]:
        if campaign_id not in self.known:
            phones = [j.form.phone for j in self.jobs if j.campaign_id == campaign_id and j.form.phone]
            self.known[campaign_id] = dict(
                service.lock_and_find_phones(self.session, campaign_id, phones))
        return self.known[campaign_id]

    def decide(self, job: Job) -> Saved | _New:
        """Decide one registration, after those before it in the batch (nothing written yet)."""
        campaign = self.campaign(job.campaign_id)
        if service.campaign_state(campaign) != CampaignState.open:
            return Saved(refused="state", campaign=campaign)
        assert campaign is not None and job.form.phone
        if self.recent(job) >= get_settings().qr_counter_limit:
            return Saved(refused="rate_counter")
        known = self.known_numbers(job.campaign_id)
        nonce = new_nonce()
        token = token_for(nonce)
        new = _New(job, campaign, known.get(job.form.phone), nonce, hash_token(token),
                   urlsplit(survey_url(token)).path)
        if new.existing is None:
            known[job.form.phone] = new
        self.counts[(job.campaign_id, int(job.unit.id), job.counter)] += 1  # type: ignore[arg-type]
        return new

    def _insert(self, model: Any, rows: list[dict[str, Any]]) -> list[int]:
        """One multi-row INSERT; the new ids in the order of `rows`."""
        table = model.__table__
        return list(self.session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                         rows).scalars().all())

    def write(self, new: list[_New]) -> None:
        """Insert the people, then their assignments, then the links to send."""
        if not new:
            return
        now = utcnow()
        for n, person_id in zip(new, self._insert(Person, [_person_row(n, now) for n in new]), strict=True):
            n.person_id = person_id
        for n, assignment_id in zip(new, self._insert(Assignment, [_assignment_row(n, now) for n in new]), strict=True):
            n.assignment_id = assignment_id
        for campaign_id, found in self.campaigns.items():
            if found is None:
                continue
            campaign, institution = found
            notify.send_links(self.session, campaign, institution, [
                notify.NewLink(n.assignment_id, n.job.unit, Group.external, n.job.form.name,
                               n.job.form.phone, n.job.form.email, n.nonce)
                for n in new if n.job.campaign_id == campaign_id and n.existing is None])
        for n in new:
            # A known number's own link is re-sent to it (one already registered in this batch
            # was just enqueued: the same message key, nothing more to do).
            if isinstance(n.existing, Assignment):
                notify.send_link(self.session, n.existing)


def _person_row(n: _New, now: datetime) -> dict[str, Any]:
    form, unit = n.job.form, n.job.unit
    return {
        "institution_id": unit.institution_id, "unit_id": unit.id, "group": Group.external,
        "name": form.name, "phone": form.phone, "email": form.email,
        "service_name": form.service, "service_date": form.service_date, "non_asn": False,
        "status": PersonStatus.excluded if n.existing else PersonStatus.eligible,
        "reason": service.DUPLICATE_PHONE if n.existing else None,
        "flags": ["participatory"], "source": "registration", "created_at": now,
    }


def _assignment_row(n: _New, now: datetime) -> dict[str, Any]:
    return {
        "campaign_id": n.job.campaign_id, "person_id": n.person_id, "unit_id": n.job.unit.id,
        "group": Group.external, "kind": AssignmentKind.participatory,
        "active": n.existing is None, "reserve_rank": None, "counter": n.job.counter,
        "token_nonce": n.nonce, "token_hash": n.token_hash, "created_at": now,
    }


def _write(jobs: list[Job]) -> list[Saved]:
    """Decide and write `jobs` (one database, sorted by number) in one transaction."""
    with write_scope(jobs[0].database_url) as session:
        batch = _Batch(session, jobs)
        decided = [batch.decide(job) for job in jobs]
        batch.write([d for d in decided if isinstance(d, _New)])
        return [d if isinstance(d, Saved) else Saved(path=d.path) for d in decided]


# The numbers' advisory locks are taken in this order in every process (no deadlock).
writer: BatchWriter[Job] = BatchWriter("qr-writer", _write, size=BATCH, order=lambda j: j.form.phone or "")
write_batch = writer.write_batch


async def save(campaign_id: int, unit: Unit, counter: str | None, form: VisitorForm) -> Saved:
    """Hand one validated registration to the writer and wait for its outcome."""
    url = get_settings().database_url
    saved: Saved = await deliver(lambda done: writer.submit(Job(url, campaign_id, unit, counter, form, done)))
    return saved
