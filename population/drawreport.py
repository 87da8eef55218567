"""What a campaign's current sample draw is, for the PIC's dashboard page "Sampel": the audit
figures (seed, population hash, margin, confidence, version, who and when), the sizes per
respondent group and the allocation per unit, with how many reserves were called up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.models import Assignment, AssignmentKind, Unit
from population.models import SampleDraw

GROUPS = ("internal", "external", "expert")


@dataclass
class UnitAllocation:
    group: str
    code: str  # unit code, or the criterion for experts
    name: str
    population: int
    sample: int
    reserves: int | None  # None for experts (chosen by criterion, no reserves)
    reserves_called: int | None
    unit_id: int | None = None


@dataclass
class DrawSummary:
    version: int
    created_at: datetime | None
    actor: str
    seed: int
    margin: float
    confidence: float
    population_hash: str
    sizes: dict[str, dict[str, Any]]
    allocations: list[UnitAllocation] = field(default_factory=list)


def draw_summary(session: Session, campaign_id: int, institution_id: int) -> DrawSummary | None:
    """The campaign's current draw, or None before the first draw."""
    draw = session.scalars(select(SampleDraw).where(
        SampleDraw.campaign_id == campaign_id, SampleDraw.current.is_(True))).first()  # type: ignore[attr-defined,arg-type]
    if draw is None:
        return None
    units = {code: (uid, name) for uid, code, name in session.execute(
        select(col(Unit.id), col(Unit.code), col(Unit.name)).where(col(Unit.institution_id) == institution_id))}
    called = {(uid, group): n for uid, group, n in session.execute(
        select(col(Assignment.unit_id), col(Assignment.group), func.count()).where(
            col(Assignment.campaign_id) == campaign_id, col(Assignment.kind) == AssignmentKind.reserve.value)
        .group_by(col(Assignment.unit_id), col(Assignment.group)))}
    summary = DrawSummary(draw.version, draw.created_at, draw.actor, draw.seed, draw.margin, draw.confidence,
                          draw.population_hash, {g: dict(draw.sizes.get(g, {})) for g in GROUPS})
    for group in ("internal", "external"):
        for code, a in sorted(draw.allocations.get(group, {}).items()):
            uid, name = units.get(code, (None, "-"))
            # Vendors are drawn with the external group and keep their own group on the assignment.
            taken = sum(called.get((uid, g), 0) for g in ((group,) if group == "internal" else ("external", "vendor")))
            summary.allocations.append(UnitAllocation(group, code, name, a["population"], a["sample"],
                                                      a.get("reserve", 0), taken, uid))
    for criterion, a in sorted(draw.allocations.get("expert", {}).items()):
        summary.allocations.append(UnitAllocation("expert", criterion, criterion, a["population"], a["sample"],
                                                  None, None))
    return summary
