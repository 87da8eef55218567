"""Building a campaign with respondents for dispatch tests."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.models import Assignment, Campaign, Institution, Person, Unit
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit


def campaign_with(
    session: Session, n: int, *, tz: str = "Asia/Jakarta", phone: bool = True, email: bool = True,
    group: str = "internal", **campaign_kw: Any,
) -> tuple[Campaign, Institution, Unit, list[tuple[Assignment, Person]]]:
    inst = make_institution(session, timezone=tz)
    unit = make_unit(session, inst)
    campaign = make_campaign(session, inst, **campaign_kw)
    out = []
    for _ in range(n):
        kw: dict[str, Any] = {"group": group}
        if not phone:
            kw["phone"] = None
        if not email:
            kw["email"] = None
        person = make_person(session, unit, **kw)
        assignment, _ = make_assignment(session, campaign, person)
        out.append((assignment, person))
    session.commit()
    return campaign, inst, unit, out
