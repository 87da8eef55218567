"""Sample size, proportional allocation and seeded, auditable draws (SPEC §3).

Sample size (Cochran, with the finite-population correction), p = 0.5 (the most cautious):

    n0 = z² · p(1 − p) / e²          z: two-sided normal quantile for the confidence (1.96 at 95%)
    n  = ceil( n0 / (1 + (n0 − 1) / N) )     never more than N

At 95% and e = 5%, n0 = 384.1: N = 1,000 gives 278, N = 10,000 gives 370.

A draw, per institution and respondent group (vendors count as external):
  * the size n for the group's eligible population N;
  * units get n·N_unit/N, rounded by largest remainder (ties by unit code);
  * in each unit a seeded simple random sample (Python's Mersenne Twister seeded with
    "seed:group:unit code"; candidates sorted by a key that does not depend on database ids), the
    first k sampled and the next ones an ordered reserve list (inactive assignments);
  * experts are chosen by criterion, in the order the PIC listed them, up to a count per criterion.
The seed, the population snapshot's SHA-256, sizes and allocations are stored in a SampleDraw row
and in the audit log: the same population and seed give the same sample.
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.audit import record as audit
from core.clock import utcnow
from core.config import get_settings
from core.models import Assignment, AssignmentKind, Campaign, Person, Unit
from core.tokens import hash_token, new_nonce, token_for
from population.errors import SamplingError
from population.models import SampleDraw
from population.normalize import norm_key

MAX_MARGIN = 0.10
EXTERNAL_FALLBACK = 30


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
    person_id: int
    unit_code: str
    group: str
    key: str  # stable across backends: no database id


def _load(session: Session, campaign: Campaign) -> list[_Candidate]:
    codes = dict(session.execute(select(Unit.id, Unit.code).where(Unit.institution_id == campaign.institution_id)).all())
    taken = set(session.scalars(select(Assignment.person_id).where(Assignment.campaign_id == campaign.id)))
    rows = session.execute(
        select(Person.id, Person.unit_id, Person.group, Person.name, Person.phone, Person.email,
               Person.criterion, Person.source_file, Person.source_sheet, Person.source_row)
        .where(Person.institution_id == campaign.institution_id, Person.status == "eligible")
    )
    out = []
    for pid, unit_id, group, name, phone, email, criterion, sfile, ssheet, srow in rows:
        if pid in taken:
            continue
        code = codes.get(unit_id, "-") if unit_id is not None else "-"
        if group == "expert":
            key = f"{norm_key(criterion)}|{sfile or ''}|{ssheet or ''}|{srow or 0:09d}|{norm_key(name)}|{phone or ''}|{email or ''}"
        else:
            key = f"{norm_key(name)}|{phone or ''}|{email or ''}"
        out.append(_Candidate(pid, code, group, key))
    return out


def population_hash(candidates: list[_Candidate]) -> str:
    digest = hashlib.sha256()
    for line in sorted(f"{c.group}|{c.unit_code}|{c.key}" for c in candidates):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _draw_group(
    group: str, candidates: list[_Candidate], size: int, seed: int, reserve_ratio: float
) -> tuple[dict[str, Any], list[tuple[int, str, int | None]]]:
    """Allocation per unit and the picks: (person id, kind, reserve rank)."""
    by_unit: dict[str, list[_Candidate]] = defaultdict(list)
    for c in candidates:
        by_unit[c.unit_code].append(c)
    shares = allocate(size, {u: len(cs) for u, cs in sorted(by_unit.items())})
    allocations: dict[str, Any] = {}
    picks: list[tuple[int, str, int | None]] = []
    for unit, members in sorted(by_unit.items()):
        k = shares[unit]
        reserves = min(len(members) - k, math.ceil(k * reserve_ratio))
        members.sort(key=lambda c: (c.key, c.person_id))
        chosen = random.Random(f"{seed}:{group}:{unit}").sample(members, k + reserves)
        picks += [(c.person_id, AssignmentKind.sampled, None) for c in chosen[:k]]
        picks += [(c.person_id, AssignmentKind.reserve, i) for i, c in enumerate(chosen[k:], start=1)]
        allocations[unit] = {"population": len(members), "sample": k, "reserve": reserves}
    return allocations, picks


def _experts(candidates: list[_Candidate], per_criterion: int) -> tuple[dict[str, Any], list[tuple[int, str, int | None]]]:
    by_criterion: dict[str, list[_Candidate]] = defaultdict(list)
    for c in candidates:
        by_criterion[c.key.split("|", 1)[0]].append(c)
    allocations, picks = {}, []
    for criterion, members in sorted(by_criterion.items()):
        members.sort(key=lambda c: (c.key, c.person_id))
        chosen = members[:per_criterion]
        picks += [(c.person_id, AssignmentKind.expert, None) for c in chosen]
        allocations[criterion] = {"population": len(members), "sample": len(chosen)}
    return allocations, picks


def _current(session: Session, campaign: Campaign) -> SampleDraw | None:
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
) -> SampleDraw:
    """Draw the campaign's sample (module docstring). A second draw is refused unless
    `replace=True`, which is itself refused once anyone answered or was invited. The caller commits."""
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
    candidates = _load(session, campaign)
    groups: dict[str, list[_Candidate]] = defaultdict(list)
    for c in candidates:
        groups["external" if c.group == "vendor" else c.group].append(c)
    sizes: dict[str, Any] = {}
    allocations: dict[str, Any] = {}
    picks: list[tuple[int, str, int | None]] = []
    for group in ("internal", "external"):
        members = groups.get(group, [])
        n = sample_size(len(members), margin, confidence)
        allocations[group], group_picks = _draw_group(group, members, n, seed, settings.sample_reserve_ratio)
        picks += group_picks
        sizes[group] = {"population": len(members), "size": n,
                        "reserves": sum(1 for p in group_picks if p[1] == AssignmentKind.reserve)}
    sizes["external"]["vendors"] = sum(1 for c in groups.get("external", []) if c.group == "vendor")
    sizes["external"]["target"] = max(sizes["external"]["size"], EXTERNAL_FALLBACK)
    allocations["expert"], expert_picks = _experts(groups.get("expert", []), settings.expert_per_criterion)
    picks += expert_picks
    sizes["expert"] = {"population": len(groups.get("expert", [])), "size": len(expert_picks),
                       "per_criterion": settings.expert_per_criterion}
    if not picks:
        raise SamplingError(f"Tidak ada populasi eligible untuk kampanye {campaign.id}. Impor data populasi dulu. / "
                            "No eligible population for this campaign: import the population first.")
    draw = SampleDraw(
        campaign_id=campaign.id, version=(previous.version + 1) if previous else 1, seed=seed,  # type: ignore[arg-type]
        margin=margin, confidence=confidence, population_hash=population_hash(candidates),
        sizes=sizes, allocations=allocations, actor=actor, created_at=utcnow(),
    )
    session.add(draw)
    _create_assignments(session, campaign, picks)
    audit(session, actor, "sample.draw", institution_id=campaign.institution_id,
          target=f"campaign:{campaign.id}",
          details={"seed": seed, "population_hash": draw.population_hash, "margin": margin,
                   "confidence": confidence, "sizes": sizes, "version": draw.version})
    session.flush()
    return draw


def _create_assignments(session: Session, campaign: Campaign, picks: list[tuple[int, str, int | None]]) -> None:
    """Bulk-insert the assignments. Each row has exactly the fields `core.assignments.
    create_assignment` sets (nonce, token hash from `token_for`), written with one executemany
    instead of one ORM object per respondent: a national draw creates ~700,000 of them."""
    people = {}
    ids = [pid for pid, _, _ in picks]
    for i in range(0, len(ids), 5000):
        query = select(Person.id, Person.unit_id, Person.group).where(Person.id.in_(ids[i:i + 5000]))  # type: ignore[union-attr]
        people.update({pid: (unit_id, group) for pid, unit_id, group in session.execute(query)})
    now = utcnow()
    rows = []
    for pid, kind, rank in picks:
        nonce = new_nonce()
        unit_id, group = people[pid]
        rows.append({"campaign_id": campaign.id, "person_id": pid, "unit_id": unit_id, "group": group,
                     "kind": kind, "active": kind != AssignmentKind.reserve, "reserve_rank": rank,
                     "counter": None, "token_nonce": nonce, "token_hash": hash_token(token_for(nonce)),
                     "created_at": now})
    for i in range(0, len(rows), 5000):
        session.execute(Assignment.__table__.insert(), rows[i:i + 5000])  # type: ignore[attr-defined]
