"""Sample draws (docs/architecture.md §2, step 2): refusals, recording and writing; who is
sampled is decided read-only in `population.selection` (sample size, proportional allocation,
seeded draws, reserves, experts).

A draw's seed, the population snapshot's SHA-256, sizes and allocations (with each unit's
ordered reserve list, "reserve_ids") are stored in a SampleDraw row and in the audit log: the
same population and seed give the same sample. Reserves get an assignment only when called up
(`call_reserve`). A national draw (`draw_samples`) selects in a worker process while this one
writes (`population.parallel`), when the transaction allows it.

Changed in the performance rework (issue 3 follow-up): members used to be listed by
(lower-cased, punctuation-free name, phone, email) sorted in Python, and the hash covered sorted
lines built from that key. Listing them by the stored values lets the database sort, so a draw
from before the change can differ from a re-draw with the same seed; each SampleDraw remains
reproducible with the code version that made it. The audit record names the algorithm
(ALGORITHM below).

Changed again for speed (issue 3, second follow-up): reserves used to be written as inactive
assignments (a third of all rows written, each with a token) and are now listed in the draw
record and given an assignment only when called up. Who is sampled and the order of the
reserves are unchanged (same frame and seed, same people: checked against the previous code),
so ALGORITHM keeps its name; so did the third follow-up (selection moved to its own module and,
for national draws, to a worker process).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import closing, nullcontext
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from core.assignments import create_assignment
from core.audit import record as audit
from core.clock import utcnow
from core.config import get_settings
from core.db import preassign_ids, reader_snapshot
from core.models import Assignment, AssignmentKind, Campaign, Person
from dispatch import invite_after_wave
from population import parallel
from population.bulk import BulkWriter, bulk_mode
from population.drawing import assignment_writer, dbapi, write_assignments
from population.errors import SamplingError
from population.models import SampleDraw
from population.selection import (
    MAX_MARGIN,
    DrawParams,
    Job,
    Selection,
    allocate,
    fetch_rows,
    institution_kind,
    sample_size,
    select_sample,
)

__all__ = ["ALGORITHM", "allocate", "call_reserve", "draw_sample", "draw_samples", "replace_with_reserve",
           "sample_size", "undrawn_campaigns"]

ALGORITHM = "frame-byte-order/v2"  # recorded in the audit log of each draw
PARALLEL_MIN_CAMPAIGNS = 8  # a national draw this size selects in a worker process (when it can)


def _params(margin: float | None) -> DrawParams:
    settings = get_settings()
    margin = settings.sample_margin if margin is None else margin
    if not 0 < margin <= MAX_MARGIN:
        raise SamplingError(f"Margin of error {margin} is not allowed: use a value above 0 and at most {MAX_MARGIN}.")
    return DrawParams(margin, settings.sample_confidence, settings.sample_reserve_ratio,
                      settings.expert_per_criterion)


def _current(session: Session, campaign: Campaign) -> SampleDraw | None:
    conn, postgres = dbapi(session)
    if not fetch_rows(conn, postgres, 'SELECT id FROM sampledraw WHERE campaign_id = ? AND "current" = ?',
                      (campaign.id, True)):
        return None  # the usual case, without an ORM query
    return session.scalars(
        select(SampleDraw).where(col(SampleDraw.campaign_id) == campaign.id, col(SampleDraw.current).is_(True))
    ).first()


def _withdraw(session: Session, campaign: Campaign, previous: SampleDraw) -> None:
    """Remove the previous draw's assignments, refusing when any was answered or is in use."""
    kinds = (AssignmentKind.sampled, AssignmentKind.reserve, AssignmentKind.expert)
    drawn = (col(Assignment.campaign_id) == campaign.id) & col(Assignment.kind).in_(kinds)
    answered = session.scalars(
        select(col(Assignment.id)).where(drawn, col(Assignment.responded_at).is_not(None))
    ).first()
    if answered is not None:
        raise SamplingError("Sampel tidak bisa diganti: sudah ada responden yang mengisi survei. / "
                            "Cannot replace the sample: some respondents have already answered.")
    try:
        with session.begin_nested():
            session.execute(delete(Assignment).where(drawn))
    except IntegrityError as exc:
        raise SamplingError("Sampel tidak bisa diganti: undangan sudah dikirim atau diantrekan. / "
                            "Cannot replace the sample: invitations were already queued or sent.") from exc
    previous.current = False
    session.add(previous)
    session.flush()


def _prepare(session: Session, campaign: Campaign, seed: int | None, replace: bool) -> tuple[Job, SampleDraw | None]:
    """Refuse a second draw unless `replace` (withdrawing the first), and the campaign's Job."""
    previous = _current(session, campaign)
    if previous is not None and not replace:
        raise SamplingError(
            f"Sampel kampanye {campaign.id} sudah ditarik pada {previous.created_at:%Y-%m-%d %H:%M} UTC "
            f"(seed {previous.seed}). / The sample of campaign {campaign.id} was already drawn; "
            "use replace (--replace) to draw it again."
        )
    if previous is not None:
        _withdraw(session, campaign, previous)
    conn, postgres = dbapi(session)
    taken = frozenset(pid for pid, in fetch_rows(conn, postgres,
                                                   "SELECT person_id FROM assignment WHERE campaign_id = ?",
                                                   (campaign.id,)))
    seed = secrets.randbelow(2**31) if seed is None else seed
    kind = institution_kind(conn, postgres, campaign.institution_id)
    return Job(campaign.id, campaign.institution_id, seed, taken, kind), previous  # type: ignore[arg-type]


def _record(session: Session, writer: BulkWriter, campaign: Campaign, previous: SampleDraw | None,
            params: DrawParams, selection: Selection, actor: str) -> SampleDraw:
    """Write one selection: its assignments to `writer` now, its SampleDraw and audit rows pending."""
    if not selection.picks:
        raise SamplingError(f"Tidak ada populasi eligible untuk kampanye {campaign.id}. Impor data populasi dulu. / "
                            "No eligible population for this campaign: import the population first.")
    draw = SampleDraw(
        campaign_id=campaign.id, version=(previous.version + 1) if previous else 1, seed=selection.seed,  # type: ignore[arg-type]
        margin=params.margin, confidence=params.confidence, population_hash=selection.population_hash,
        sizes=selection.sizes, allocations=selection.allocations, actor=actor, created_at=utcnow(),
    )
    session.add(draw)
    write_assignments(writer, campaign.id, selection.picks, utcnow())  # type: ignore[arg-type]
    audit(session, actor, "sample.draw", institution_id=campaign.institution_id,
          target=f"campaign:{campaign.id}",
          details={"algorithm": ALGORITHM, "seed": selection.seed, "population_hash": selection.population_hash,
                   "margin": params.margin, "confidence": params.confidence, "sizes": selection.sizes,
                   "version": draw.version})
    return draw


def draw_sample(
    session: Session,
    campaign: Campaign,
    *,
    seed: int | None = None,
    margin: float | None = None,
    replace: bool = False,
    actor: str = "system",
) -> SampleDraw:
    """Draw the campaign's sample (`population.selection`). A second draw is refused unless
    `replace=True`, which is itself refused once anyone answered or was invited. The caller commits."""
    session.flush()  # the queries below read the connection directly (no autoflush)
    params = _params(margin)
    job, previous = _prepare(session, campaign, seed, replace)
    conn, postgres = dbapi(session)
    selection = select_sample(conn, postgres, job, params)
    with assignment_writer(session) as writer:
        draw = _record(session, writer, campaign, previous, params, selection, actor)
    session.flush()
    return draw


def draw_samples(
    session: Session,
    campaigns: Sequence[Campaign],
    *,
    seed: int | None = None,
    margin: float | None = None,
    actor: str = "system",
) -> list[SampleDraw]:
    """Draw many campaigns' samples in one transaction (a national draw): each exactly as
    `draw_sample` draws it, with its own SampleDraw and audit record, but one commit and a
    bulk-sized SQLite page cache for all. All or nothing: the first refusal (SamplingError)
    withdraws every draw of the call; a campaign already drawn is refused (no replacing here).
    The caller commits.

    From PARALLEL_MIN_CAMPAIGNS campaigns on, the selections are made in a worker process while
    this one writes (`population.parallel`), when another connection can see exactly what this
    transaction sees (`core.db.reader_snapshot`: on SQLite, a `session_scope(write=True)` that
    has written nothing yet); otherwise here, one after the other. Same draws either way."""
    ids = [c.id for c in campaigns]
    if len(set(ids)) != len(ids):
        raise SamplingError("Kampanye yang sama tercantum dua kali. / The same campaign is listed twice.")
    params = _params(margin)
    # Before the SAVEPOINT: PostgreSQL exports no snapshot from a subtransaction.
    snapshot = reader_snapshot(session) if len(campaigns) >= PARALLEL_MIN_CAMPAIGNS else None
    url = session.connection().engine.url.render_as_string(hide_password=False)
    # The worker's interpreter starts while the jobs are prepared here.
    worker = parallel.Worker() if snapshot is not None and parallel.reachable(url) else None
    with worker or nullcontext(), session.begin_nested(), bulk_mode(session), session.no_autoflush:
        prepared = [_prepare(session, campaign, seed, replace=False) for campaign in campaigns]
        jobs = [job for job, _ in prepared]
        if worker is None:
            conn, postgres = dbapi(session)
            stream: Iterator[Selection] = (select_sample(conn, postgres, job, params) for job in jobs)
        else:
            assert snapshot is not None
            stream = worker.selections(url, snapshot, jobs, params)
        # With the worker, all assignments go into one COPY (PostgreSQL) that stays open while
        # selections arrive: the server stores rows while this process formats the next ones,
        # and checks their references once (migration 0003). In process, each selection reads
        # on this connection, so each campaign's COPY ends before the next is selected.
        with closing(stream), assignment_writer(session) as writer:  # type: ignore[type-var]  # generators have close()
            draws = []
            for campaign, (_, previous), selection in zip(campaigns, prepared, stream, strict=True):
                draws.append(_record(session, writer, campaign, previous, params, selection, actor))
                if worker is None:
                    writer.flush()
        preassign_ids(session, list(session.new))  # the draws' and audit rows' ids: a faster flush
        session.flush()
    return draws


def undrawn_campaigns(session: Session) -> list[Campaign]:
    """Campaigns a national draw takes (`spibot sample --all`): draft or open, no current
    sample, and an institution with eligible people, by id."""
    has_draw = select(col(SampleDraw.campaign_id)).where(col(SampleDraw.current).is_(True))
    has_people = select(col(Person.institution_id)).where(col(Person.status) == "eligible")
    return list(session.scalars(
        select(Campaign).where(col(Campaign.status).in_(("draft", "open")),
                               col(Campaign.id).not_in(has_draw),
                               col(Campaign.institution_id).in_(has_people))
        .order_by(col(Campaign.id))))


def replace_with_reserve(session: Session, campaign: Campaign, unit_code: str, group: str,
                         actor: str = "system", details: dict[str, Any] | None = None) -> tuple[Assignment | None, int]:
    """A PIC's "call up a reserve" (dashboard page Sampel, `spibot sample reserve`): the unit's
    next reserve gets an active assignment, is invited at once if the invitation wave already ran
    (else the wave invites them), and the audit log records it. Returns (assignment or None when
    the list is used up, invitations enqueued). The caller commits."""
    assignment = call_reserve(session, campaign, unit_code, group)
    if assignment is None:
        return None, 0
    invited = invite_after_wave(session, campaign.id, [assignment.id], actor=actor)  # type: ignore[arg-type,list-item]
    audit(session, actor, "sample.reserve", institution_id=campaign.institution_id, target=f"campaign:{campaign.id}",
          details={"unit": unit_code, "group": group, "rank": assignment.reserve_rank, "invited": invited,
                   "assignment": assignment.id, **(details or {})})
    return assignment, invited


def call_reserve(session: Session, campaign: Campaign, unit_code: str, group: str) -> Assignment | None:
    """Give the next reserve of a unit (draw group "internal" or "external") an active
    assignment, to replace someone who cannot be reached; None when the list is used up.

    Reserves are taken in their drawn order, skipping anyone who already has an assignment in
    the campaign (e.g. registered at a counter) or is no longer eligible. The caller commits."""
    draw = _current(session, campaign)
    if draw is None:
        raise SamplingError(f"Kampanye {campaign.id} belum punya sampel. / Campaign {campaign.id} has no sample yet.")
    allocation = draw.allocations.get(group, {}).get(unit_code)
    if allocation is None:
        raise SamplingError(f"Unit {unit_code} tidak ada di sampel {group} kampanye {campaign.id}. / "
                            f"Unit {unit_code} is not in the {group} sample of campaign {campaign.id}.")
    reserve_ids: list[int] = allocation.get("reserve_ids", [])
    assigned = set(session.scalars(select(col(Assignment.person_id)).where(
        col(Assignment.campaign_id) == campaign.id, col(Assignment.person_id).in_(reserve_ids))))
    for rank, person_id in enumerate(reserve_ids, start=1):
        if person_id in assigned:
            continue
        person = session.get(Person, person_id)
        if person is None or person.status != "eligible":
            continue
        assignment = create_assignment(session, campaign, person, kind=AssignmentKind.reserve,
                                       active=True, reserve_rank=rank)
        session.flush()
        return assignment
    return None
