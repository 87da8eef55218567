"""The external floor applied near the close (issue 24): from a date set per campaign on, when
the external answers (external and vendor) are projected below the floor, the PIC is told, with
the concrete actions left and their counts (reserves not yet called, participatory registrations,
units with counters for intercepts).

The date is the campaign's `config["external_floor_check_at"]` (ISO 8601; UTC when it has no
offset); no date, no check. The projection extrapolates the answers so far over the campaign's
duration, `ceil(responded · (closes − opens) / (now − opens))`, and never counts more than the
external people with an active assignment (answers come from them or from new registrations).
The floor and the texts are data: population/data/sampling_rules.yaml. Read-only: calling up the
reserves stays the PIC's decision (`replace_with_reserve`, page "Sampel").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.clock import as_utc, utcnow
from core.models import Assignment, AssignmentKind, Campaign, Unit
from population.models import SampleDraw
from population.rules import sampling_rules

CONFIG_KEY = "external_floor_check_at"
EXTERNAL_GROUPS = ("external", "vendor")


@dataclass
class FloorNotice:
    """What the overview shows when the external floor will be missed."""

    floor: int
    responded: int
    projected: int
    reserves: int  # external reserves still available in the current draw
    participatory: int  # external registrations at the counters so far
    intercept_units: int  # units serving the public with counters
    title: str = ""
    body: str = ""
    actions: list[str] = field(default_factory=list)

    @property
    def shortfall(self) -> int:
        return max(0, self.floor - self.projected)


def check_at(campaign: Campaign) -> datetime | None:
    """The campaign's floor date, aware UTC; None when not set or unreadable."""
    raw = (campaign.config or {}).get(CONFIG_KEY)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def project(responded: int, active: int, opens: datetime, closes: datetime, now: datetime) -> int:
    """The external answers expected by the close (module docstring)."""
    elapsed = (now - opens).total_seconds()
    duration = (closes - opens).total_seconds()
    if elapsed <= 0 or now >= closes or duration <= 0:
        return responded
    return max(responded, min(active, math.ceil(responded * duration / elapsed)))


def _reserves_left(session: Session, campaign: Campaign) -> int:
    draw = session.scalars(select(SampleDraw).where(col(SampleDraw.campaign_id) == campaign.id,
                                                    col(SampleDraw.current).is_(True))).first()
    if draw is None:
        return 0
    listed = [pid for a in draw.allocations.get("external", {}).values() for pid in a.get("reserve_ids", [])]
    if not listed:
        return 0
    called = session.scalar(select(func.count()).select_from(Assignment).where(
        col(Assignment.campaign_id) == campaign.id, col(Assignment.person_id).in_(listed))) or 0
    return len(listed) - int(called)


def external_floor(session: Session, campaign: Campaign, now: datetime | None = None) -> FloorNotice | None:
    """The notice for the PIC, or None (no date set, before it, or the floor will be met)."""
    at = check_at(campaign)
    now = now or utcnow()
    if at is None or now < at:
        return None
    external = (col(Assignment.campaign_id) == campaign.id) & col(Assignment.group).in_(EXTERNAL_GROUPS)
    responded = int(session.scalar(select(func.count()).select_from(Assignment).where(
        external, col(Assignment.responded_at).is_not(None))) or 0)
    active = int(session.scalar(select(func.count()).select_from(Assignment).where(
        external, col(Assignment.active).is_(True))) or 0)
    assert campaign.opens_at is not None and campaign.closes_at is not None
    rules = sampling_rules()
    floor = int(rules["external_floor"])
    projected = project(responded, active, as_utc(campaign.opens_at), as_utc(campaign.closes_at), now)
    if projected >= floor:
        return None
    participatory = int(session.scalar(select(func.count()).select_from(Assignment).where(
        external, col(Assignment.kind) == AssignmentKind.participatory)) or 0)
    units = session.scalars(select(Unit).where(col(Unit.institution_id) == campaign.institution_id)).all()
    notice = FloorNotice(floor, responded, projected, _reserves_left(session, campaign), participatory,
                         sum(1 for u in units if u.serves_public and u.counters))
    texts = rules["floor_notice"]
    values = {"floor": floor, "responded": responded, "projected": projected, "shortfall": notice.shortfall}
    notice.title = texts["title"].format(**values)
    notice.body = texts["body"].format(**values)
    notice.actions = [texts["reserves"].format(count=notice.reserves),
                      texts["participatory"].format(count=notice.participatory),
                      texts["intercepts"].format(count=notice.intercept_units)]
    return notice
