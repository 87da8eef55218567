"""The sampling rules of issue 24 (part 2): internal tenure at the unit OR the institution, at
least 10 experts across criteria, and the two-stage draw of a large ministry (cluster A)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from core.models import Assignment, Institution, Person, Unit
from population.plan import sample_plan
from population.reader import match_header
from population.records import judge, parse_row
from population.rules import sampling_rules
from population.sampling import draw_sample
from population.selection import EXPERT_MINIMUM, _Candidate, _experts, equal_shares, pps_systematic
from tests.factories import make_campaign, make_institution, make_unit

REF = date(2024, 6, 30)
HEADER = ["No", "Nama Pegawai", "Unit Kerja", "Jabatan", "Tanggal Mulai Bekerja di Unit", "TMT CPNS", "No HP"]


def _internal(at_unit: str, at_institution: str) -> tuple[str | None, list[str]]:
    layout = match_header(HEADER, 1)
    assert layout is not None
    record = parse_row("internal", layout.columns,
                       ["1", "Budi", "Dinas Kesehatan", "Analis", at_unit, at_institution, "081234567890"], 2)
    assert record is not None
    judge(record, REF, set())
    return record.reason, [record.status]


def test_the_institution_start_column_is_recognised_apart_from_the_unit_start() -> None:
    """Proves the optional column maps to its own field: "TMT CPNS" is not taken as the unit's
    start ("tmt" alone belongs to start_date, so the order in headers.yaml matters)."""
    layout = match_header(HEADER, 1)
    assert layout is not None and layout.form == "internal"
    assert layout.columns["start_date"] == 4 and layout.columns["institution_start"] == 5


@pytest.mark.parametrize(("at_unit", "at_institution", "reason"), [
    ("2024-01-01", "2022-06-30", None),  # 6 months at the unit, exactly 2 years at the institution
    ("2024-01-01", "2022-07-01", "tenure_under_1_year"),  # a day short of 2 years, under 1 at the unit
    ("2023-06-30", "", None),  # exactly 1 year at the unit, no institution date
    ("2023-07-01", "", "tenure_under_1_year"),  # a day short of 1 year, no institution date
    ("", "2020-01-01", None),  # only the institution date, long enough
    ("", "2023-01-01", "tenure_under_1_year"),  # only the institution date, too short
    ("", "", "missing_start_date"),  # neither date: unusable
])
def test_internal_eligibility_by_unit_or_institution(at_unit: str, at_institution: str, reason: str | None) -> None:
    """Proves >= 1 year at the unit OR >= 2 years at the institution, boundaries included."""
    got, _ = _internal(at_unit, at_institution)
    assert got == reason
    rule = sampling_rules()["internal_tenure"]
    assert (rule["unit_years"], rule["institution_years"]) == (1, 2)


def _candidates(counts: dict[str, int]) -> list[_Candidate]:
    out, n = [], 0
    for criterion, count in counts.items():
        for i in range(count):
            n += 1
            out.append(_Candidate(n, None, f"{criterion}|f|s|{i:09d}|ahli {i}||"))
    return out


@pytest.mark.parametrize(("counts", "per_criterion", "expected"), [
    ({"akademisi": 20, "praktisi": 20}, 3, {"akademisi": 5, "praktisi": 5}),  # 3+3 -> filled to 10
    ({"akademisi": 20, "praktisi": 2}, 3, {"akademisi": 8, "praktisi": 2}),  # the short criterion gives all
    ({"akademisi": 4, "praktisi": 3}, 3, {"akademisi": 4, "praktisi": 3}),  # fewer than 10 listed: all of them
    ({"akademisi": 20, "praktisi": 20}, 6, {"akademisi": 6, "praktisi": 6}),  # the setting already exceeds 10
])
def test_experts_reach_the_minimum_across_criteria(counts: dict[str, int], per_criterion: int,
                                                   expected: dict[str, int]) -> None:
    """Proves the draw takes at least EXPERT_MINIMUM experts when the list can supply them,
    spread round robin across criteria, and never more than listed."""
    allocations, picks = _experts(_candidates(counts), per_criterion)
    assert {c: a["sample"] for c, a in allocations.items()} == expected
    assert len(picks) == sum(expected.values())
    assert EXPERT_MINIMUM == 10


def test_expert_minimum_in_a_real_draw(session: Session) -> None:
    """Proves a stored draw honours the minimum: 2 criteria x 12 listed, 3 per criterion set -> 10 drawn."""
    inst = make_institution(session)
    unit = make_unit(session, inst, code="a")
    people = [Person(institution_id=inst.id, unit_id=unit.id, group="internal", name=f"P{i}",  # type: ignore[arg-type]
                     phone=f"+62812{i:08d}") for i in range(20)]
    people += [Person(institution_id=inst.id, group="expert", name=f"Ahli {c} {i}", criterion=c,  # type: ignore[arg-type]
                      phone=f"+62813{j * 100 + i:08d}", source_row=i)
               for j, c in enumerate(("Akademisi", "Praktisi")) for i in range(12)]
    session.add_all(people)
    session.flush()
    draw = draw_sample(session, make_campaign(session, inst), seed=3)
    assert draw.sizes["expert"]["size"] == 10
    assert {a["sample"] for a in draw.allocations["expert"].values()} == {5}


def test_pps_systematic_handles_certainty_units() -> None:
    """Proves a unit larger than the interval is always chosen and the count is exact."""
    sizes = [("big", 1000)] + [(f"u{i:03d}", 10) for i in range(50)]
    for seed in range(20):
        chosen = pps_systematic(sizes, 5, seed, "internal")
        assert len(chosen) == 5 and "big" in chosen


def _ministry_sizes() -> list[tuple[str, int]]:
    # 200 units of 5 to 104 people (deterministic, varied)
    return [(f"u{i:03d}", 5 + (i * 37) % 100) for i in range(200)]


def test_pps_is_reproducible_by_seed() -> None:
    """Proves the same seed gives the same units and another seed (usually) other units."""
    sizes = _ministry_sizes()
    assert pps_systematic(sizes, 40, 11, "internal") == pps_systematic(sizes, 40, 11, "internal")
    assert pps_systematic(sizes, 40, 11, "internal") != pps_systematic(sizes, 40, 12, "internal")


def test_pps_inclusion_frequency_tracks_size() -> None:
    """Proves unit selection is proportional to size: over 3,000 seeds each unit's inclusion
    frequency is within 4.5 binomial standard deviations of m·N_i/N (all 200 units), and the
    frequencies fall on a line through the origin of slope m/N within 3% (measured: < 0.6%)."""
    sizes = _ministry_sizes()
    total = sum(s for _, s in sizes)
    m, runs = 40, 3000
    seen: Counter[str] = Counter()
    for seed in range(runs):
        chosen = pps_systematic(sizes, m, seed, "internal")
        assert len(chosen) == m
        seen.update(chosen)
    for code, size in sizes:
        p = m * size / total
        assert abs(seen[code] / runs - p) <= 4.5 * math.sqrt(p * (1 - p) / runs), (code, size, seen[code])
    # frequency against size: a line through the origin with slope m/N (least squares)
    xs = [size for _, size in sizes]
    ys = [seen[code] / runs for code, _ in sizes]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    assert abs(slope / (m / total) - 1) < 0.03
    assert abs(my - slope * mx) < 0.01


def test_equal_shares_cap_and_redistribute() -> None:
    """Proves the second stage splits n equally, a small unit's leftover going to the others."""
    assert equal_shares(10, {"a": 100, "b": 100}) == {"a": 5, "b": 5}
    assert equal_shares(12, {"a": 2, "b": 100, "c": 100}) == {"a": 2, "b": 5, "c": 5}
    assert equal_shares(500, {"a": 2, "b": 3}) == {"a": 2, "b": 3}


@pytest.mark.slow
def test_a_200_unit_ministry_is_drawn_in_two_stages(session: Session) -> None:
    """Proves the stored draw of a ministry (kind "kementerian", 200 units) samples people only
    in the PPS-chosen units, the same units for the same seed, and reads its kind from the
    institution (a kabupaten of the same shape is drawn in one stage); the plan warns first."""
    rule = sampling_rules()["two_stage"]
    sizes = dict(_ministry_sizes())

    def ministry(kind: str) -> int:
        inst = make_institution(session, kind=kind)
        people: list[Person] = []
        units = {code: make_unit(session, inst, code=code, name=f"Direktorat {code}") for code in sizes}
        for code, size in sizes.items():
            people += [Person(institution_id=inst.id, unit_id=units[code].id, group="internal",  # type: ignore[arg-type]
                              name=f"Pegawai {code} {i}", phone=f"+6281{len(people) + i:09d}")
                       for i in range(size)]
        session.add_all(people)
        session.flush()
        return inst.id  # type: ignore[return-value]

    inst_id = ministry("kementerian")
    inst = session.get(Institution, inst_id)
    assert inst is not None
    campaign = make_campaign(session, inst)
    plan = sample_plan(session, campaign)  # the PIC is told before the draw
    assert any("dua tahap" in w for w in plan.warnings)
    first = draw_sample(session, campaign, seed=5)
    second = draw_sample(session, make_campaign(session, inst), seed=5)
    alloc = first.allocations["internal"]
    chosen = sorted(c for c, a in alloc.items() if a.get("chosen", True))
    assert len(chosen) == rule["units"] == first.sizes["internal"]["units_chosen"]
    assert chosen == pps_systematic(list(sizes.items()), rule["units"], 5, "internal")
    assert chosen == sorted(c for c, a in second.allocations["internal"].items() if a.get("chosen", True))
    sampled_units = set(session.scalars(
        select(col(Assignment.unit_id)).where(col(Assignment.campaign_id) == first.campaign_id)))
    codes = {session.get(Unit, u).code for u in sampled_units}  # type: ignore[union-attr]
    assert codes == set(chosen)
    assert all(alloc[c]["sample"] == 0 and alloc[c]["reserve_ids"] == [] for c in alloc if c not in chosen)
    assert first.sizes["internal"]["size"] == sum(a["sample"] for a in alloc.values()) > 0

    kab = session.get(Institution, ministry("kabupaten"))
    assert kab is not None
    one_stage = draw_sample(session, make_campaign(session, kab), seed=5)
    assert "units_chosen" not in one_stage.sizes["internal"]
    reached = sum(1 for a in one_stage.allocations["internal"].values() if a["sample"] > 0)
    assert reached > rule["units"] and all(a.get("chosen", True) for a in one_stage.allocations["internal"].values())
