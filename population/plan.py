"""The sample plan: what a draw of a campaign would take from its current population, before
anything is drawn (the dashboard page "Sampel" and its confirmation step).

Read-only: the same queries and decisions as the draw itself (`population.selection`, with the
settings the draw uses and the people already assigned in the campaign left out), so the sizes,
the allocation per unit and the population hash shown are the ones the draw will record, as long
as the population does not change in between (the confirmation carries the hash and the draw
checks it). Who would be sampled is not shown: that depends on the seed, chosen at the draw.

Two survey rules are reported here rather than decided by the draw: the external group's target
of at least EXTERNAL_FALLBACK responses (`selection.EXTERNAL_FALLBACK`) and at least
EXPERT_MINIMUM experts (the draw takes more per criterion to reach it when it can); when the
population cannot supply them the plan says so (`warnings`). A large ministry's draw chooses its
units at the draw (two stages, `selection.pps_systematic`): the plan says so, and its allocation
per unit (made with seed 0) is only an illustration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from sqlmodel import Session

from core.config import get_settings
from core.models import Campaign
from population.drawing import dbapi
from population.selection import (
    EXPERT_MINIMUM,
    EXTERNAL_FALLBACK,
    DrawParams,
    Job,
    fetch_rows,
    institution_kind,
    select_sample,
)

__all__ = ["EXPERT_MINIMUM", "PlanUnit", "SamplePlan", "draw_params", "sample_plan", "unbounded_size"]


@dataclass
class PlanUnit:
    """One unit's (or expert criterion's) share of the planned sample."""

    group: str  # draw group: internal | external | expert
    code: str  # unit code, or the criterion for experts
    population: int
    sample: int
    reserves: int | None  # None for experts (chosen by criterion, no reserves)


@dataclass
class SamplePlan:
    """What a draw would take now: sizes per draw group, allocation per unit, the hash."""

    margin: float
    confidence: float
    reserve_ratio: float
    unbounded: int  # Cochran's n0 rounded up: the size for a very large population (no FPC)
    population_hash: str
    sizes: dict[str, dict[str, Any]]  # as a draw records them (`Selection.sizes`)
    units: list[PlanUnit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # Indonesian, for the PIC

    @property
    def eligible(self) -> int:
        """Eligible people the draw would choose from (every group)."""
        return sum(int(s.get("population", 0)) for s in self.sizes.values())

    @property
    def drawable(self) -> bool:
        """Whether a draw would sample anyone (it refuses otherwise)."""
        return any(u.sample for u in self.units)


def draw_params() -> DrawParams:
    """The parameters a draw takes from the settings (`population.sampling` reads the same)."""
    s = get_settings()
    return DrawParams(s.sample_margin, s.sample_confidence, s.sample_reserve_ratio, s.expert_per_criterion)


def unbounded_size(margin: float, confidence: float) -> int:
    """Cochran's n0 (p = 0.5) rounded up: the sample size before the finite-population correction."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return math.ceil(z * z * 0.25 / (margin * margin) - 1e-9)


def sample_plan(session: Session, campaign: Campaign) -> SamplePlan:
    """The plan of the campaign's draw from the current population (module docstring)."""
    assert campaign.id is not None
    session.flush()  # the queries below read the connection directly
    params = draw_params()
    conn, postgres = dbapi(session)
    taken = frozenset(pid for pid, in fetch_rows(conn, postgres,
                                                   "SELECT person_id FROM assignment WHERE campaign_id = ?",
                                                   (campaign.id,)))
    kind = institution_kind(conn, postgres, campaign.institution_id)
    selection = select_sample(conn, postgres, Job(campaign.id, campaign.institution_id, 0, taken, kind), params)
    plan = SamplePlan(params.margin, params.confidence, params.reserve_ratio,
                      unbounded_size(params.margin, params.confidence), selection.population_hash,
                      {g: dict(s) for g, s in selection.sizes.items()})
    plan.sizes["expert"]["target"] = EXPERT_MINIMUM
    for group in ("internal", "external"):
        for code, a in sorted(selection.allocations.get(group, {}).items()):
            plan.units.append(PlanUnit(group, code, a["population"], a["sample"], a["reserve"]))
    for criterion, a in sorted(selection.allocations.get("expert", {}).items()):
        plan.units.append(PlanUnit("expert", criterion, a["population"], a["sample"], None))
    plan.warnings = _warnings(plan)
    stages = [g for g in ("internal", "external") if "units_chosen" in plan.sizes[g]]
    if stages:
        plan.warnings.append(
            f"Instansi ini ditarik dua tahap: {plan.sizes[stages[0]]['units_chosen']} unit dipilih dulu secara "
            "sistematis sebanding ukuran unit, lalu pegawai/pengguna di unit terpilih. Unit terpilih ditentukan "
            "saat penarikan (seed), jadi pembagian per unit di bawah hanya gambaran.")
    return plan


def _warnings(plan: SamplePlan) -> list[str]:
    found: list[str] = []
    internal, external, expert = (plan.sizes[g] for g in ("internal", "external", "expert"))
    if not plan.eligible:
        return ["Belum ada populasi eligible. Unggah dan periksa data populasi dulu di halaman Kumpulkan data."]
    if not internal["population"]:
        found.append("Belum ada pegawai (internal) yang eligible.")
    if external["population"] < EXTERNAL_FALLBACK:
        found.append(f"Pengguna layanan (eksternal) yang eligible hanya {external['population']} orang; "
                     f"survei membutuhkan minimal {EXTERNAL_FALLBACK} jawaban eksternal.")
    if expert["population"] < EXPERT_MINIMUM:
        found.append(f"Daftar ahli hanya memuat {expert['population']} orang; survei membutuhkan minimal "
                     f"{EXPERT_MINIMUM} ahli. Lengkapi daftar ahli sebelum menarik sampel.")
    elif expert["size"] < EXPERT_MINIMUM:
        found.append(f"Dengan {expert['per_criterion']} ahli per kriteria hanya {expert['size']} ahli terpilih; "
                     f"survei membutuhkan minimal {EXPERT_MINIMUM} ahli. Tambahkan ahli dengan kriteria lain.")
    return found
