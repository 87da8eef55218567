"""Sample size, proportional allocation and seeded, auditable draws (SPEC §3).

Sample size (Cochran, with the finite-population correction), p = 0.5 (the most cautious):

    n0 = z² · p(1 − p) / e²          z: two-sided normal quantile for the confidence (1.96 at 95%)
    n  = ceil( n0 / (1 + (n0 − 1) / N) )     never more than N

At 95% and e = 5%, n0 = 384.1: N = 1,000 gives 278, N = 10,000 gives 370.

A draw, per institution and respondent group (vendors count as external):
  * the size n for the group's eligible population N;
  * units get n·N_unit/N, rounded by largest remainder (ties by unit code);
  * in each unit a seeded simple random sample: Python's Mersenne Twister seeded with
    "seed:group:unit code" samples k + reserves positions among the unit's members, listed in
    byte order of (name, phone, email) — an order that does not depend on database ids; the
    first k are sampled (assignments) and the next ones form the unit's ordered reserve list,
    kept in the draw record (allocations[group][unit code]["reserve_ids"]); `call_reserve`
    gives the next reserve an active assignment when someone cannot be reached;
  * experts are chosen by criterion, in the order the PIC listed them, up to a count per criterion.
The seed, the population snapshot's SHA-256 (of the frame: one "group|unit code|name|phone|email"
line per person in that order, then the experts), sizes and allocations are stored in a
SampleDraw row and in the audit log: the same population and seed give the same sample.

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
so ALGORITHM keeps its name.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections import defaultdict
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.assignments import create_assignment
from core.audit import record as audit
from core.clock import utcnow
from core.config import get_settings
from core.models import Assignment, AssignmentKind, Campaign, Person
from population.bulk import bulk_mode
from population.drawing import Pick, draw_frame, fetch_rows, load_frames, write_assignments
from population.errors import SamplingError
from population.models import SampleDraw
from population.normalize import norm_key

MAX_MARGIN = 0.10
EXTERNAL_FALLBACK = 30
ALGORITHM = "frame-byte-order/v2"  # recorded in the audit log of each draw


def sample_size(population: int, margin: float = 0.05, confidence: float = 0.95) -> int:
    """Cochran's sample size with the finite-population correction (module docstring)."""
    if not 0 < margin <= MAX_MARGIN:
        raise ValueError(f"margin of error must be in (0, {MAX_MARGIN}], got {margin}")
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    if population <= 0:
        return 0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    n0 = z * z * 0.25 / (margin * margin)
    n = n0 / (1 + (n0 - 1) / population)
    return min(population, math.ceil(n - 1e-9))


def allocate(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split `total` proportionally to `sizes` with largest-remainder rounding (ties: key order)."""
    population = sum(sizes.values())
    if population == 0 or total <= 0:
        return {k: 0 for k in sizes}
    total = min(total, population)
    quotas = {k: total * v / population for k, v in sizes.items()}
    result = {k: math.floor(q) for k, q in quotas.items()}
    left = total - sum(result.values())
    by_remainder = sorted(sizes, key=lambda k: (-(quotas[k] - result[k]), k))
    for k in by_remainder[:left]:
        result[k] += 1
    return result


@dataclass(frozen=True)
class _Candidate:
    """An expert candidate (experts are few; they are chosen by criterion, not drawn)."""

    person_id: int
    unit_id: int | None
    group: str
    key: str  # stable across backends: no database id


_EXPERTS_SQL = """
SELECT id, unit_id, name, phone, email, criterion, source_file, source_sheet, source_row
FROM person WHERE institution_id = ? AND "group" = 'expert' AND status = 'eligible'
"""


def _load_experts(session: Session, campaign: Campaign, taken: set[int]) -> list[_Candidate]:
    rows = fetch_rows(session, _EXPERTS_SQL, (campaign.institution_id,))
    return [
        _Candidate(pid, unit_id, "expert",
                   f"{norm_key(criterion)}|{sfile or ''}|{ssheet or ''}|{srow or 0:09d}|{norm_key(name)}|{phone or ''}|{email or ''}")
        for pid, unit_id, name, phone, email, criterion, sfile, ssheet, srow in rows
        if pid not in taken
    ]


def population_hash(frame_text: bytes, experts: list[_Candidate]) -> str:
    """SHA-256 of the sampling frame: one line per eligible person (frame order, then experts)."""
    digest = hashlib.sha256(frame_text)
    for line in sorted(f"expert|-|{c.key}" for c in experts):
        digest.update(b"\n")
        digest.update(line.encode())
    return digest.hexdigest()


def _experts(candidates: list[_Candidate], per_criterion: int) -> tuple[dict[str, Any], list[Pick]]:
    by_criterion: dict[str, list[_Candidate]] = defaultdict(list)
    for c in candidates:
        by_criterion[c.key.split("|", 1)[0]].append(c)
    allocations: dict[str, Any] = {}
    picks: list[Pick] = []
    for criterion, members in sorted(by_criterion.items()):
        members.sort(key=lambda c: (c.key, c.person_id))
        chosen = members[:per_criterion]
        picks += [(c.person_id, c.unit_id, c.group, AssignmentKind.expert.value, None) for c in chosen]
        allocations[criterion] = {"population": len(members), "sample": len(chosen)}
    return allocations, picks


def _current(session: Session, campaign: Campaign) -> SampleDraw | None:
    if not fetch_rows(session, 'SELECT id FROM sampledraw WHERE campaign_id = ? AND "current" = ?',
                      (campaign.id, True)):
        return None  # the usual case, without an ORM query
    return session.scalars(
        select(SampleDraw).where(SampleDraw.campaign_id == campaign.id, SampleDraw.current.is_(True))  # type: ignore[attr-defined]
    ).first()


def _withdraw(session: Session, campaign: Campaign, previous: SampleDraw) -> None:
    """Remove the previous draw's assignments, refusing when any was answered or is in use."""
    kinds = (AssignmentKind.sampled, AssignmentKind.reserve, AssignmentKind.expert)
    drawn = (Assignment.campaign_id == campaign.id) & Assignment.kind.in_(kinds)  # type: ignore[attr-defined]
    answered = session.scalars(select(Assignment.id).where(drawn, Assignment.responded_at.is_not(None))).first()  # type: ignore[union-attr]
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


def draw_sample(
    session: Session,
    campaign: Campaign,
    *,
    seed: int | None = None,
    margin: float | None = None,
    replace: bool = False,
    actor: str = "system",
    flush: bool = True,
) -> SampleDraw:
    """Draw the campaign's sample (module docstring). A second draw is refused unless
    `replace=True`, which is itself refused once anyone answered or was invited. The caller commits.
    `flush=False` leaves the SampleDraw and audit rows pending (draw_samples writes them together)."""
    if flush:
        session.flush()  # the queries below read the connection directly (no autoflush)
    settings = get_settings()
    margin = settings.sample_margin if margin is None else margin
    confidence = settings.sample_confidence
    if not 0 < margin <= MAX_MARGIN:
        raise SamplingError(f"Margin of error {margin} is not allowed: use a value above 0 and at most {MAX_MARGIN}.")
    previous = _current(session, campaign)
    if previous is not None and not replace:
        raise SamplingError(
            f"Sampel kampanye {campaign.id} sudah ditarik pada {previous.created_at:%Y-%m-%d %H:%M} UTC "
            f"(seed {previous.seed}). / The sample of campaign {campaign.id} was already drawn; "
            "use replace (--replace) to draw it again."
        )
    if previous is not None:
        _withdraw(session, campaign, previous)
    seed = secrets.randbelow(2**31) if seed is None else seed
    taken = {pid for pid, in fetch_rows(session, "SELECT person_id FROM assignment WHERE campaign_id = ?", (campaign.id,))}
    frames, frame_text = load_frames(session, campaign.institution_id, taken)  # type: ignore[arg-type]
    experts = _load_experts(session, campaign, taken)
    sizes: dict[str, Any] = {}
    allocations: dict[str, Any] = {}
    picks: list[Pick] = []
    for group in ("internal", "external"):
        frame = frames[group]
        n = sample_size(frame.size, margin, confidence)
        shares = allocate(n, {code: stop - start for code, start, stop in frame.units})
        allocations[group], group_picks = draw_frame(frame, group, shares, seed, settings.sample_reserve_ratio)
        picks += group_picks
        sizes[group] = {"population": frame.size, "size": n,
                        "reserves": sum(a["reserve"] for a in allocations[group].values())}
    sizes["external"]["vendors"] = frames["external"].vendors
    sizes["external"]["target"] = max(sizes["external"]["size"], EXTERNAL_FALLBACK)
    allocations["expert"], expert_picks = _experts(experts, settings.expert_per_criterion)
    picks += expert_picks
    sizes["expert"] = {"population": len(experts), "size": len(expert_picks),
                       "per_criterion": settings.expert_per_criterion}
    if not picks:
        raise SamplingError(f"Tidak ada populasi eligible untuk kampanye {campaign.id}. Impor data populasi dulu. / "
                            "No eligible population for this campaign: import the population first.")
    draw = SampleDraw(
        campaign_id=campaign.id, version=(previous.version + 1) if previous else 1, seed=seed,  # type: ignore[arg-type]
        margin=margin, confidence=confidence, population_hash=population_hash(frame_text, experts),
        sizes=sizes, allocations=allocations, actor=actor, created_at=utcnow(),
    )
    session.add(draw)
    write_assignments(session, campaign.id, picks, utcnow())  # type: ignore[arg-type]
    audit(session, actor, "sample.draw", institution_id=campaign.institution_id,
          target=f"campaign:{campaign.id}",
          details={"algorithm": ALGORITHM, "seed": seed, "population_hash": draw.population_hash, "margin": margin,
                   "confidence": confidence, "sizes": sizes, "version": draw.version})
    if flush:
        session.flush()
    return draw


def draw_samples(
    session: Session,
    campaigns: list[Campaign],
    *,
    seed: int | None = None,
    margin: float | None = None,
    actor: str = "system",
) -> list[SampleDraw]:
    """Draw many campaigns' samples in one transaction (a national draw): each exactly as
    `draw_sample` draws it, with its own SampleDraw and audit record, but one commit and a
    bulk-sized SQLite page cache for all. All or nothing: the first refusal (SamplingError)
    withdraws every draw of the call. The caller commits.

    The SampleDraw and audit rows of all campaigns are written together at the end (batched
    INSERTs instead of two round trips per campaign); so a campaign listed twice is refused up
    front rather than by the pending first draw."""
    ids = [c.id for c in campaigns]
    if len(set(ids)) != len(ids):
        raise SamplingError("Kampanye yang sama tercantum dua kali. / The same campaign is listed twice.")
    with session.begin_nested(), bulk_mode(session), session.no_autoflush:
        draws = [draw_sample(session, campaign, seed=seed, margin=margin, actor=actor, flush=False)
                 for campaign in campaigns]
        session.flush()
    return draws


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
    assigned = set(session.scalars(select(Assignment.person_id).where(
        Assignment.campaign_id == campaign.id, Assignment.person_id.in_(reserve_ids))))  # type: ignore[attr-defined]
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
