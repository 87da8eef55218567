"""The answer writer: one thread per web process writes the questionnaire's answer POSTs
(`POST /s/{token}`), a batch of whatever is waiting in one transaction.

Why: every respondent posts ~7 pages, so in a national blast this is the busiest write path.
Run in the event loop, each save's ~9 round trips through ORM objects blocked every other
request of the process; in the threadpool, writers queued on SQLite's busy handler or on the
GIL (docs/benchmarks.md, "The answer POST (responses)"). Here the async route parses the form,
hands the post to this thread (`core.batchwriter`) and awaits the outcome; the thread takes up to `BATCH` waiting
posts and, in one transaction:

1. locks their assignments (PostgreSQL: `SELECT ... FOR UPDATE OF assignment`, in id order, so
   two processes' batches cannot deadlock; SQLite: BEGIN IMMEDIATE, queued across this host's
   web processes on the same flock as the registration writer, `core.db.write_scope`) and
   reads them with their campaign, institution and unit names, one statement;
2. reads their responses through the link table, one statement, *after* the lock (so a page
   saved or a response submitted by another process before the lock was granted is seen);
3. decides each post in arrival order in Python, with the same rules as the former ORM path
   (two posts of one respondent in one batch: the second sees the first's answers);
4. writes new responses and their links with one multi-row INSERT each, changed responses with
   one executemany UPDATE, `assignment.responded_at` likewise; one COMMIT.

If the batch fails as a whole, each post is redone in its own transaction, so one bad post never
fails the others; a post that fails alone hands its exception to its request (HTTP 500).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from core.batchwriter import BatchWriter, deliver
from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import write_scope
from core.models import CLOSED_STATUSES, Assignment, AssignmentKind, Campaign, Institution, Unit
from responses import service
from responses.models import Response, ResponseStatus
from responses.questionnaire import (
    CONFIRM_PAGE,
    Questionnaire,
    first_incomplete_page,
    load_questionnaire,
    validate_all,
    validate_page,
)
from responses.service import body_hash, derived_fields, keyed_hash, survey_group_of

BATCH = 64

_RESPONSES = Response.__table__  # type: ignore[attr-defined]
_ASSIGNMENTS = Assignment.__table__  # type: ignore[attr-defined]
# What a save or a submission may change on a stored response (the UPDATE's SET list).
_MUTABLE = ("answers", "page_times", "updated_at", "ip_hash", "ua_hash", "status", "submitted_at",
            "source", "submission_id", "body_hash", "service_type", "expert_group")


@dataclass(frozen=True)
class Outcome:
    """What the route answers. kind: "not_found" (404), "again" (409, already submitted),
    "closed" (403 not yet open / 410 ended), "redirect" (303 to the link, on page `page` if set),
    "invalid" (422: the page again with `answers` and `errors`)."""

    kind: str
    page: str | None = None
    year: int = 0
    not_yet: bool = False
    q: Questionnaire | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    institution: str = ""
    unit: str | None = None


@dataclass(frozen=True)
class Post:
    """One answer POST, parsed in the event loop."""

    token_hash: bytes
    data: Mapping[str, str]
    shown_at: datetime | None  # the signed `t` field, verified (None: absent or tampered with)
    hashes: Mapping[str, str]  # ip_hash / ua_hash to store (keyed, never raw), when known


@dataclass(frozen=True)
class Job:
    database_url: str
    post: Post
    done: Callable[[Outcome | BaseException], None]


def meta_hashes(meta: Mapping[str, Any] | None) -> dict[str, str]:
    """The request's IP and user agent as stored on the response (keyed hashes)."""
    out: dict[str, str] = {}
    if meta and meta.get("ip"):
        out["ip_hash"] = keyed_hash(str(meta["ip"]), "ip")  # type: ignore[assignment]
    if meta and meta.get("user_agent"):
        out["ua_hash"] = keyed_hash(str(meta["user_agent"])[:500], "ua")  # type: ignore[assignment]
    return out


@dataclass(frozen=True)
class _Link:
    assignment_id: int
    active: bool
    kind: str
    group: str
    unit_id: int | None
    campaign_id: int
    institution_id: int
    year: int
    opens_at: datetime | None
    closes_at: datetime | None
    status: str
    institution: str
    unit: str | None


@dataclass
class _State:
    """One assignment's response as stored, then as changed by this batch's posts."""

    row: dict[str, Any] | None
    new: bool = False
    dirty: bool = False
    responded_at: datetime | None = None


_LOCK = (
    select(  # type: ignore[call-overload]
        _ASSIGNMENTS.c.token_hash, _ASSIGNMENTS.c.id, _ASSIGNMENTS.c.active, _ASSIGNMENTS.c.kind,
        _ASSIGNMENTS.c.group, _ASSIGNMENTS.c.unit_id, _ASSIGNMENTS.c.campaign_id,
        Campaign.institution_id, Campaign.year, Campaign.opens_at, Campaign.closes_at,
        Campaign.status, Institution.name, Unit.name,
    )
    .select_from(_ASSIGNMENTS)
    .join(Campaign, Campaign.id == _ASSIGNMENTS.c.campaign_id)
    .outerjoin(Institution, Institution.id == Campaign.institution_id)
    .outerjoin(Unit, Unit.id == _ASSIGNMENTS.c.unit_id)
    .where(_ASSIGNMENTS.c.token_hash.in_(bindparam("hashes", expanding=True)))
    .order_by(_ASSIGNMENTS.c.id)
    .with_for_update(of=_ASSIGNMENTS)
)


class _Batch:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.links: dict[bytes, _Link] = {}
        self.states: dict[int, _State] = {}

    def read(self, posts: list[Post]) -> None:
        hashes = list({p.token_hash for p in posts})
        for row in self.session.execute(_LOCK, {"hashes": hashes}):
            self.links[bytes(row[0])] = _Link(*row[1:])
        ids = [link.assignment_id for link in self.links.values()]
        stored = service.responses_of(self.session, ids) if ids else {}
        self.states = {i: _State(stored.get(i)) for i in ids}

    def decide(self, post: Post) -> Outcome:
        """One post, after those before it in the batch (as the former router + service did)."""
        link = self.links.get(post.token_hash)
        # An inactive participatory assignment is a second registration of a number that already
        # has one: served like any other (the registration reveals nothing about which numbers
        # are known), its answers never count (flagged, excluded). Idle reserves: not served.
        if link is None or (not link.active and link.kind != AssignmentKind.participatory):
            return Outcome("not_found")
        state = self.states[link.assignment_id]
        if state.row is not None and state.row["status"] == ResponseStatus.submitted:
            return Outcome("again", year=link.year)
        now = utcnow()
        if not _is_open(link, now):
            not_yet = (link.opens_at is not None and link.status not in CLOSED_STATUSES
                       and now < as_utc(link.opens_at))
            return Outcome("closed", year=link.year, not_yet=not_yet)
        q = load_questionnaire(survey_group_of(link.group), link.year)
        ids = q.page_ids()
        page_id = post.data.get("page", "")
        if page_id not in ids:
            return Outcome("redirect")
        answers = dict(state.row["answers"]) if state.row else {}
        nav = post.data.get("nav", "next")
        if page_id == CONFIRM_PAGE:
            if nav == "back":
                return Outcome("redirect", q.neighbour(page_id, answers, forward=False))
            missing = first_incomplete_page(q, answers)
            if missing:
                return Outcome("redirect", missing)
            values, errors = validate_all(q, answers)
            if errors:
                first = next(iter(errors))
                return Outcome("redirect", next(
                    (pg.id for pg in q.pages if any(x.id == first for x in pg.questions)), ids[0]))
            values, _ = q.drop_skipped(values)  # a follow-up part made moot: never submitted
            self._submit(link, state, q, answers, values, post)
            return Outcome("redirect")
        page = q.page(page_id)
        assert page is not None
        values, errors = validate_page(q, page, post.data, answers)
        if nav == "back":
            if values:
                self._save(link, state, q, page_id, values, post)
            # The pages shown to this respondent: a follow-up part their answers skip is passed.
            return Outcome("redirect", q.neighbour(page_id, {**answers, **values}, forward=False))
        if errors:
            return Outcome("invalid", page_id, year=link.year, q=q, answers={**answers, **values},
                           errors=errors, institution=link.institution or "", unit=link.unit)
        self._save(link, state, q, page_id, values, post)
        return Outcome("redirect", q.neighbour(page_id, {**answers, **values}))

    def _row(self, link: _Link, state: _State, q: Questionnaire, created: datetime) -> dict[str, Any]:
        if state.row is None:
            state.row = {
                "campaign_id": link.campaign_id, "institution_id": link.institution_id,
                "unit_id": link.unit_id, "group": q.group, "respondent_group": link.group,
                "questionnaire_year": q.year, "status": ResponseStatus.draft, "answers": {},
                "service_type": None, "expert_group": None, "source": "web", "submission_id": None,
                "body_hash": None, "page_times": {}, "ip_hash": None, "ua_hash": None,
                # A duplicate participatory registration: kept for the record, never counted.
                "flagged": not link.active, "review_status": None if link.active else "excluded",
                "created_at": created, "started_at": created, "updated_at": created,
                "submitted_at": None,
            }
            state.new = True
        state.dirty = True
        return state.row

    def _save(self, link: _Link, state: _State, q: Questionnaire, page_id: str,
              values: Mapping[str, Any], post: Post) -> None:
        """Merge one page's (validated) answers into the draft, creating it on first save."""
        now = utcnow()
        row = self._row(link, state, q, post.shown_at or now)
        row["answers"] = {**row["answers"], **values}
        times = dict(row["page_times"])
        entry = dict(times.get(page_id) or {})
        if post.shown_at and "shown" not in entry:
            entry["shown"] = post.shown_at.isoformat()
        entry["saved"] = now.isoformat()
        times[page_id] = entry
        row["page_times"] = times
        row["updated_at"] = now
        row.update(post.hashes)

    def _submit(self, link: _Link, state: _State, q: Questionnaire, answers: dict[str, Any],
                values: dict[str, Any], post: Post) -> None:
        """The draft's complete answers as the single submitted response (as
        `responses.service.submit_answers` with source "web" and no submission id)."""
        now = utcnow()
        row = self._row(link, state, q, now)
        row.update(answers=values, status=ResponseStatus.submitted, submitted_at=now, updated_at=now,
                   source="web", submission_id=None,
                   body_hash=body_hash(link.assignment_id, answers),
                   **derived_fields(q, link.group, values))
        row.update(post.hashes)
        state.responded_at = now

    def write(self) -> None:
        new = [(i, s.row) for i, s in self.states.items() if s.new and s.row is not None]
        changed = [s.row for s in self.states.values() if s.dirty and not s.new and s.row is not None]
        if new:
            service.insert_responses(self.session, new)
        if changed:
            self.session.execute(
                update(_RESPONSES).where(_RESPONSES.c.id == bindparam("response_id")),
                [{"response_id": row["id"], **{k: row[k] for k in _MUTABLE}} for row in changed])
        responded = [{"assignment_id": i, "responded_at": s.responded_at}
                     for i, s in self.states.items() if s.responded_at is not None]
        if responded:
            self.session.execute(
                update(_ASSIGNMENTS).where(_ASSIGNMENTS.c.id == bindparam("assignment_id")), responded)


def _is_open(link: _Link, now: datetime) -> bool:
    """As `Campaign.is_open`."""
    assert link.opens_at and link.closes_at
    return link.status not in CLOSED_STATUSES and as_utc(link.opens_at) <= now < as_utc(link.closes_at)


def _write(jobs: list[Job]) -> list[Outcome]:
    """Decide and write `jobs` (one database, arrival order) in one transaction."""
    with write_scope(jobs[0].database_url) as session:
        batch = _Batch(session)
        batch.read([j.post for j in jobs])
        outcomes = [batch.decide(j.post) for j in jobs]
        batch.write()
        return outcomes


writer: BatchWriter[Job] = BatchWriter("answer-writer", _write, size=BATCH)
write_batch = writer.write_batch


async def save(post: Post) -> Outcome:
    """Hand one answer POST to the writer and wait for its outcome."""
    url = get_settings().database_url
    outcome: Outcome = await deliver(lambda done: writer.submit(Job(url, post, done)))
    return outcome
