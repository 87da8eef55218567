"""The read-only half of a sample draw: who is sampled, in which order the reserves come, and the
figures the draw records (docs/architecture.md §5). Nothing here writes; `population.sampling`
records the result.

Sample size (Cochran, with the finite-population correction), p = 0.5 (the most cautious):

    n0 = z² · p(1 − p) / e²          z: two-sided normal quantile for the confidence (1.96 at 95%)
    n  = ceil( n0 / (1 + (n0 − 1) / N) )     never more than N

At 95% and e = 5%, n0 = 384.1: N = 1,000 gives 278, N = 10,000 gives 370.

Per institution and respondent group (vendors count as external):
  * the size n for the group's eligible population N;
  * units get n·N_unit/N, rounded by largest remainder (ties by unit code);
  * in each unit a seeded simple random sample: Python's Mersenne Twister seeded with
    "seed:group:unit code" samples k + reserves positions among the unit's members, listed in
    byte order of (name, phone, email) — an order that does not depend on database ids; the
    first k are sampled and the next ones form the unit's ordered reserve list;
  * experts are chosen by criterion, in the order the PIC listed them, up to a count per criterion;
    when that gives fewer than the institution's minimum (`expert_minimum`, 10), more are taken
    one criterion at a time, round robin in criterion order, until the minimum or the list runs out;
  * large ministries (cluster A: `two_stage` in population/data/sampling_rules.yaml, by
    Institution.kind and the number of units) are sampled in two stages: first `units` units by
    systematic sampling with probability proportional to size (units in code order, a random start
    from Random("seed:pps:group"); a unit at least one interval large is taken for certain and the
    interval recomputed), so unit i is chosen with probability m·N_i/N; then the group's size n is
    split equally among the chosen units (capped at a unit's size, the rest to the others in code
    order) and drawn within each as above. Units not chosen get no sample and no reserves
    (recorded as {"population": N_i, "sample": 0, "reserve": 0, "chosen": false}).
The population snapshot's SHA-256 covers the frame: one "group|unit code|name|phone|email" line
per person in that order, then the experts.

The frame is read with one ordered query per institution, straight from a DBAPI connection (no
ORM, and this module imports neither SQLAlchemy nor SQLModel, so a worker process starts fast:
`population.parallel`): eligible people not yet assigned in the campaign, in the frame order
(draw group, unit code, name, phone, email, id) in byte order on both backends (SQLite's BINARY
collation, PostgreSQL's "C"), so the order depends only on the data, never on database ids or
locale. The database sorts by content and `load_frames` by group and unit.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from statistics import NormalDist
from typing import Any

from population.normalize import norm_key
from population.rules import sampling_rules

MAX_MARGIN = 0.10
EXTERNAL_FALLBACK = int(sampling_rules()["external_floor"])
EXPERT_MINIMUM = int(sampling_rules()["expert_minimum"])
SAMPLED, EXPERT = "sampled", "expert"  # AssignmentKind values (core.models; not imported here)

Pick = tuple[int, int | None, str, str, int | None]  # person id, unit id, group, kind, reserve rank


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
class DrawParams:
    """What a draw is asked for, read from the settings once by the caller."""

    margin: float
    confidence: float
    reserve_ratio: float
    expert_per_criterion: int


@dataclass(frozen=True)
class Job:
    """One campaign's draw: its institution, seed and the people already assigned in it
    (registered at a counter before the draw), who are not drawn again."""

    campaign_id: int
    institution_id: int
    seed: int
    taken: frozenset[int] = frozenset()
    kind: str = ""  # Institution.kind: large ministries are sampled in two stages


@dataclass
class Selection:
    """Everything a draw decides before anything is written."""

    campaign_id: int
    seed: int
    population_hash: str
    sizes: dict[str, Any]
    allocations: dict[str, Any]
    picks: list[Pick]


def fetch_rows(conn: Any, postgres: bool, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of a plain query (written with "?" placeholders) on a DBAPI connection."""
    cursor = conn.cursor()
    try:
        cursor.execute(sql.replace("?", "%s") if postgres else sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


# Sorted by content only (name, phone, email, id); `load_frames` then splits the rows by draw
# group and unit code in one stable pass, which gives the frame order. With the group and unit
# as leading sort keys, PostgreSQL cannot sort on abbreviated text keys and took 2.5x as long
# (1M people: 1.26 -> 0.50 s of server time). Experts are chosen by criterion, not drawn: read
# apart. The unit join names the institution (a person's unit is always one of its
# institution's units): without it PostgreSQL's planner hashed the whole unit table for every
# draw (12,800 units: 11 ms instead of 4 ms a draw).
_FRAME_SQL = """
SELECT p.id, p.unit_id, p."group", COALESCE(u.code, '-'), p.name {c},
       COALESCE(p.phone, '') {c}, COALESCE(p.email, '') {c}
FROM person p LEFT JOIN unit u ON u.id = p.unit_id AND u.institution_id = p.institution_id
WHERE p.institution_id = ? AND p.status = 'eligible' AND p."group" <> 'expert'
ORDER BY 5, 6, 7, p.id
"""

_EXPERTS_SQL = """
SELECT id, unit_id, name, phone, email, criterion, source_file, source_sheet, source_row
FROM person WHERE institution_id = ? AND "group" = 'expert' AND status = 'eligible'
"""


@dataclass
class Frame:
    """The non-expert frame of one draw group, in frame order: the query's rows as fetched,
    (id, unit id, group, unit code, name, phone, email)."""

    rows: Sequence[tuple[Any, ...]] = ()
    units: list[tuple[str, int, int]] = field(default_factory=list)  # (code, start, stop)
    vendors: int = 0

    @property
    def size(self) -> int:
        return len(self.rows)


_GROUP = itemgetter(2)
_LINE = itemgetter(slice(2, 7))  # group, unit code, name, phone, email


@dataclass(frozen=True)
class JobRows:
    """What one campaign's draw reads from the database: the frame query's rows (sorted by
    name, phone, email, id; `load_frames` puts them in frame order) and the expert candidates'
    rows, people in the job's `taken` still included."""

    frame: list[tuple[Any, ...]]
    experts: list[tuple[Any, ...]]


def institution_kind(conn: Any, postgres: bool, institution_id: int) -> str:
    """Institution.kind (a large ministry is drawn in two stages), read on a DBAPI connection."""
    rows = fetch_rows(conn, postgres, "SELECT kind FROM institution WHERE id = ?", (institution_id,))
    return str(rows[0][0]) if rows else ""


def read_job(conn: Any, postgres: bool, job: Job) -> JobRows:
    """The two queries of one draw, on a DBAPI connection (the only database work of a
    selection: `select_from` decides the rest without it)."""
    frame = fetch_rows(conn, postgres, _FRAME_SQL.format(c='COLLATE "C"' if postgres else ""), (job.institution_id,))
    return JobRows(frame, fetch_rows(conn, postgres, _EXPERTS_SQL, (job.institution_id,)))


def load_frames(rows: list[tuple[Any, ...]], taken: Iterable[int] = ()) -> tuple[dict[str, Frame], bytes]:
    """The internal and external frames of the frame query's rows (without the people in
    `taken`), and the frame's text for the population hash: one line per person,
    "group|unit code|name|phone|email".

    The rows come sorted by (name, phone, email, id); one stable pass puts them in runs per
    draw group and unit code, taken in byte order of the code, which is the frame order (draw
    group, unit code, name, phone, email, id). Python compares str by code point, which is the
    byte order of their UTF-8 text: the order of SQLite's BINARY and PostgreSQL's "C". The rows
    themselves are kept (no per-column copies) and the hash text is joined at C level."""
    taken = set(taken)
    if taken:  # people registered at a counter (participatory) before the draw
        rows = [row for row in rows if row[0] not in taken]
    runs: dict[tuple[bool, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        runs[row[2] != "internal", row[3]].append(row)
    parts: dict[str, list[tuple[Any, ...]]] = {"internal": [], "external": []}
    units: dict[str, list[tuple[str, int, int]]] = {"internal": [], "external": []}
    for (external, code), run in sorted(runs.items()):
        name = "external" if external else "internal"
        start = len(parts[name])
        parts[name] += run
        units[name].append((code, start, len(parts[name])))
    ordered = parts["internal"] + parts["external"]
    text = "\n".join(map("|".join, map(_LINE, ordered))).encode()
    frames = {name: Frame(parts[name], units[name], list(map(_GROUP, parts[name])).count("vendor"))
              for name in ("internal", "external")}
    return frames, text


def draw_frame(frame: Frame, group: str, shares: dict[str, int], seed: int,
               reserve_ratio: float) -> tuple[dict[str, Any], list[Pick]]:
    """Per unit, a simple random sample of the unit's share, then an ordered reserve list.

    `random.Random("seed:group:unit code").sample` over the unit's members in frame order: the
    same frame and seed always give the same people, whatever the database ids. The sampled
    people become picks (assignments); the reserves, in order, are listed in the unit's
    allocation ("reserve_ids": person ids, the first replaces the first unreachable person)
    and get an assignment only when one is called up (`sampling.call_reserve`)."""
    allocations: dict[str, Any] = {}
    picks: list[Pick] = []
    rows = frame.rows
    for code, start, stop in frame.units:
        size = stop - start
        k = shares[code]
        reserves = min(size - k, math.ceil(k * reserve_ratio))
        chosen = random.Random(f"{seed}:{group}:{code}").sample(range(start, stop), k + reserves)  # noqa: S311 - auditable, not secret
        picks += [(rows[i][0], rows[i][1], rows[i][2], SAMPLED, None) for i in chosen[:k]]
        allocations[code] = {"population": size, "sample": k, "reserve": reserves,
                             "reserve_ids": [rows[i][0] for i in chosen[k:]]}
    return allocations, picks


@dataclass(frozen=True)
class _Candidate:
    """An expert candidate (experts are few; they are chosen by criterion, not drawn)."""

    person_id: int
    unit_id: int | None
    key: str  # stable across backends: no database id


def _candidates(rows: list[tuple[Any, ...]], taken: frozenset[int]) -> list[_Candidate]:
    return [
        _Candidate(pid, unit_id,
                   f"{norm_key(criterion)}|{sfile or ''}|{ssheet or ''}|{srow or 0:09d}|"
                   f"{norm_key(name)}|{phone or ''}|{email or ''}")
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


def _experts(candidates: list[_Candidate], per_criterion: int,
             minimum: int = EXPERT_MINIMUM) -> tuple[dict[str, Any], list[Pick]]:
    """Up to `per_criterion` per criterion, then round robin across criteria (criterion order)
    until `minimum` experts or the candidates run out (module docstring)."""
    by_criterion: dict[str, list[_Candidate]] = defaultdict(list)
    for c in candidates:
        by_criterion[c.key.split("|", 1)[0]].append(c)
    taken: dict[str, int] = {}
    for criterion, members in by_criterion.items():
        members.sort(key=lambda c: (c.key, c.person_id))
        taken[criterion] = min(per_criterion, len(members))
    order = sorted(by_criterion)
    while sum(taken.values()) < minimum:
        grown = False
        for criterion in order:
            if sum(taken.values()) >= minimum:
                break
            if taken[criterion] < len(by_criterion[criterion]):
                taken[criterion] += 1
                grown = True
        if not grown:
            break
    allocations: dict[str, Any] = {}
    picks: list[Pick] = []
    for criterion in order:
        members = by_criterion[criterion]
        chosen = members[:taken[criterion]]
        picks += [(c.person_id, c.unit_id, "expert", EXPERT, None) for c in chosen]
        allocations[criterion] = {"population": len(members), "sample": len(chosen)}
    return allocations, picks


def pps_systematic(sizes: Sequence[tuple[str, int]], m: int, seed: int, group: str) -> list[str]:
    """`m` of the units (code, size), in the given order, by systematic sampling with probability
    proportional to size (module docstring): unit i is chosen with probability m·N_i/N, units at
    least one interval large for certain. Seeded: the same sizes and seed give the same units."""
    units = [(code, size) for code, size in sizes if size > 0]
    if m <= 0:
        return []
    if m >= len(units):
        return [code for code, _ in units]
    certain: list[str] = []
    rest = units
    while True:
        total = sum(size for _, size in rest)
        interval = total / (m - len(certain))
        big = [code for code, size in rest if size >= interval]
        if not big:
            break
        certain += big
        rest = [(code, size) for code, size in rest if size < interval]
        if len(certain) >= m:
            return certain[:m]
    start = random.Random(f"{seed}:pps:{group}").random() * interval  # noqa: S311 - auditable, not secret
    chosen: list[str] = []
    point, cumulative = start, 0.0
    for code, size in rest:
        cumulative += size
        if point < cumulative:
            chosen.append(code)
            point += interval
    return sorted(certain + chosen)


def equal_shares(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """`total` split equally among the units (largest remainder), capped at each unit's size,
    what a capped unit cannot take going to the others in code order."""
    shares = {code: 0 for code in sizes}
    left = min(total, sum(sizes.values()))
    while left > 0:
        open_units = sorted(code for code in sizes if shares[code] < sizes[code])
        each, extra = divmod(left, len(open_units))
        for i, code in enumerate(open_units):
            add = min(each + (1 if i < extra else 0), sizes[code] - shares[code])
            shares[code] += add
            left -= add
    return shares


def two_stage(kind: str, units: int) -> int:
    """How many units a draw group samples first (0: a one-stage draw), for an institution of
    this kind with this many units (sampling_rules.yaml, `two_stage`)."""
    rule = sampling_rules()["two_stage"]
    if kind in rule["kinds"] and units > int(rule["min_units"]):
        return int(rule["units"])
    return 0


def select_sample(conn: Any, postgres: bool, job: Job, params: DrawParams) -> Selection:
    """Who one campaign's draw samples (module docstring), read on `conn` (DBAPI)."""
    return select_from(job, read_job(conn, postgres, job), params)


def select_from(job: Job, rows: JobRows, params: DrawParams) -> Selection:
    """Who one campaign's draw samples, decided from what `read_job` read."""
    frames, frame_text = load_frames(rows.frame, job.taken)
    experts = _candidates(rows.experts, job.taken)
    sizes: dict[str, Any] = {}
    allocations: dict[str, Any] = {}
    picks: list[Pick] = []
    for group in ("internal", "external"):
        frame = frames[group]
        n = sample_size(frame.size, params.margin, params.confidence)
        unit_sizes = {code: stop - start for code, start, stop in frame.units}
        first = two_stage(job.kind, len(unit_sizes))
        if first:
            chosen = set(pps_systematic(list(unit_sizes.items()), first, job.seed, group))
            shares = equal_shares(n, {code: size for code, size in unit_sizes.items() if code in chosen})
            shown = Frame(frame.rows, [u for u in frame.units if u[0] in chosen], frame.vendors)
            allocations[group], group_picks = draw_frame(shown, group, shares, job.seed, params.reserve_ratio)
            for code, size in unit_sizes.items():
                if code not in chosen:
                    allocations[group][code] = {"population": size, "sample": 0, "reserve": 0, "reserve_ids": [],
                                                "chosen": False}
        else:
            shares = allocate(n, unit_sizes)
            allocations[group], group_picks = draw_frame(frame, group, shares, job.seed, params.reserve_ratio)
        picks += group_picks
        sizes[group] = {"population": frame.size, "size": sum(a["sample"] for a in allocations[group].values()),
                        "reserves": sum(a["reserve"] for a in allocations[group].values())}
        if first:
            sizes[group]["units_chosen"] = len(chosen)
    sizes["external"]["vendors"] = frames["external"].vendors
    sizes["external"]["target"] = max(sizes["external"]["size"], EXTERNAL_FALLBACK)
    allocations["expert"], expert_picks = _experts(experts, params.expert_per_criterion)
    picks += expert_picks
    sizes["expert"] = {"population": len(experts), "size": len(expert_picks),
                       "per_criterion": params.expert_per_criterion}
    return Selection(job.campaign_id, job.seed, population_hash(frame_text, experts), sizes, allocations, picks)
