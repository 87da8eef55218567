"""Build a small campaign with submitted responses in the database (for service/purge tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlmodel import Session

from core.clock import utcnow
from core.models import Campaign, Institution, Unit
from responses.models import Response, ResponseLink
from responses.questionnaire import load_questionnaire
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit


@dataclass
class World:
    institution: Institution
    units: list[Unit]
    campaign: Campaign
    responses: list[Response] = field(default_factory=list)
    planted: dict[str, set[int]] = field(default_factory=dict)


def _answers(items: list, values: np.ndarray) -> dict[str, object]:
    out: dict[str, object] = {}
    for item, v in zip(items, values, strict=True):
        out[item.id] = ("ya" if v <= 3 else "tidak") if item.scale == "experience" else int(v)
    return out


def _page_times(pages: list[str], start: datetime, seconds: list[float]) -> dict[str, object]:
    times, t = {}, start
    for p, s in zip(pages, seconds, strict=True):
        times[p] = {"shown": t.isoformat(), "saved": (t + timedelta(seconds=s)).isoformat()}
        t += timedelta(seconds=s)
    return times


def build_world(session: Session, n: int = 40, seed: int = 0, opens: datetime | None = None,
                **campaign_kw: object) -> World:
    rng = np.random.default_rng(seed)
    q = load_questionnaire("internal", 2024)
    items = q.items
    pages = [p.id for p in q.pages]
    inst = make_institution(session, timezone="Asia/Makassar")
    units = [make_unit(session, inst) for _ in range(3)]
    opens = opens or utcnow() - timedelta(days=20)
    campaign = make_campaign(session, inst, year=2024, opens_at=opens,
                             closes_at=opens + timedelta(days=30), **campaign_kw)
    world = World(inst, units, campaign, planted={"straight": set(), "device": set(), "fast": set()})
    for i in range(n):
        unit = units[i % 3]
        person = make_person(session, unit)
        assignment, _ = make_assignment(session, campaign, person)
        values = np.clip(np.rint(rng.normal(4.5, 1.2, len(items))), 1, 6)
        submitted = opens + timedelta(days=int(rng.integers(0, 15)), hours=float(rng.uniform(1, 12)))
        seconds = [float(rng.uniform(40, 120)) for _ in pages]
        ip, ua = f"ip{rng.integers(0, 10**6)}", f"ua{rng.integers(0, 30)}"
        kind = "honest"
        if i < 4:
            values[:] = 6
            kind = "straight"
        elif i < 8:
            submitted = opens + timedelta(days=3, minutes=5 * i)
            ip, ua, kind = "shared-phone", "same-browser", "device"
        elif i < 11:
            seconds = [2.0 for _ in pages]
            kind = "fast"
        start = submitted - timedelta(seconds=sum(seconds))
        response = Response(
            campaign_id=campaign.id, institution_id=inst.id, unit_id=unit.id, group="internal",  # type: ignore[arg-type]
            respondent_group="internal", questionnaire_year=2024, status="submitted",
            answers=_answers(items, values), page_times=_page_times(pages, start, seconds),
            source="import" if i % 10 == 9 else "web", ip_hash=ip, ua_hash=ua,
            created_at=start, started_at=start, submitted_at=submitted,
        )
        session.add(response)
        session.flush()
        session.add(ResponseLink(assignment_id=assignment.id, response_id=response.id))  # type: ignore[arg-type]
        world.responses.append(response)
        if kind != "honest":
            world.planted[kind].add(int(response.id))  # type: ignore[arg-type]
    session.commit()
    return world
