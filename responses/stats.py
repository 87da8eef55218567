"""Response counts for the dashboard and the integrity checks (counts only, never answers)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.models import Assignment
from responses.models import Response, ResponseStatus


@dataclass(frozen=True)
class UnitGroupCount:
    unit_id: int | None
    group: str  # as sampled: internal / external / vendor / expert
    assigned: int  # active assignments (links sent or to send)
    responded: int  # assignments with a submitted response
    submitted: int  # submitted responses stored for this unit and group (incl. imports)
    drafts: int  # started but not yet submitted


def response_counts(session: Session, campaign_id: int) -> dict[tuple[int | None, str], UnitGroupCount]:
    """Per (unit_id, group): assigned, responded, submitted and draft counts of one campaign."""
    assigned = session.exec(
        select(Assignment.unit_id, Assignment.group, func.count(), func.count(col(Assignment.responded_at)))
        .where(Assignment.campaign_id == campaign_id, col(Assignment.active).is_(True))
        .group_by(col(Assignment.unit_id), col(Assignment.group))
    ).all()
    stored = session.exec(
        select(Response.unit_id, Response.respondent_group, Response.status, func.count())
        .where(Response.campaign_id == campaign_id)
        .group_by(col(Response.unit_id), col(Response.respondent_group), col(Response.status))
    ).all()
    keys: dict[tuple[int | None, str], list[int]] = {}
    for unit_id, group, n, responded in assigned:
        keys.setdefault((unit_id, group), [0, 0, 0, 0])[0:2] = [int(n), int(responded)]
    for unit_id, group, status, n in stored:
        slot = keys.setdefault((unit_id, group), [0, 0, 0, 0])
        slot[2 if status == ResponseStatus.submitted else 3] += int(n)
    return {k: UnitGroupCount(k[0], k[1], *v) for k, v in keys.items()}
