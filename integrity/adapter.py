"""Read a campaign's rows into the plain arrays the detectors work on.

Only integrity looks at `ResponseLink` (to attribute participatory registrations to responses);
nothing here reads a name, phone or email, and nothing leaves this package with identity.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlmodel import Session, col, func, select

from core.clock import as_utc
from core.models import Assignment, AssignmentKind, Campaign, Institution
from dispatch import Outbox
from integrity.signals import ResponseBatch, codes
from responses import Response, ResponseLink, ResponseStatus, load_questionnaire

EXPERIENCE_VALUES = {"ya": 1.0, "tidak": 6.0}  # "one is too many" (responses.scoring.engine)


@dataclass
class CampaignData:
    campaign: Campaign
    timezone: str
    batches: dict[str, ResponseBatch]  # by survey group
    reminders: list[tuple[int, float]]
    unit_sizes: dict[int, int]
    counter_ids: np.ndarray  # participatory assignment ids
    counter_keys: np.ndarray
    counter_times: np.ndarray
    response_of_assignment: dict[int, int]
    sources: dict[int, str]  # response id -> source
    review_status: dict[int, str | None]


def _layout(group: str, year: int, rows: list[Response]) -> tuple[list[str], list[str], list[int]]:
    """Scored item ids, page ids and questions per page, from the questionnaire when known."""
    try:
        q = load_questionnaire(group, year)
        return ([i.id for i in q.items], [p.id for p in q.pages],
                [max(len(p.questions), 1) for p in q.pages])
    except Exception:  # noqa: BLE001 - unknown questionnaire: fall back to the answers' keys
        keys = sorted({k for r in rows for k in (r.answers or {})})
        pages = sorted({k for r in rows for k in (r.page_times or {})})
        return keys, pages, [1] * len(pages)


def _value(raw: Any) -> float:
    if isinstance(raw, bool):
        return np.nan
    if isinstance(raw, int | float) and 1 <= raw <= 6:
        return float(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in EXPERIENCE_VALUES:
            return EXPERIENCE_VALUES[text]
        if text in {"1", "2", "3", "4", "5", "6"}:
            return float(text)
    return np.nan


def _page_seconds(times: Any, page: str) -> float:
    try:
        entry = times[page]
        shown = datetime.fromisoformat(entry["shown"])
        saved = datetime.fromisoformat(entry["saved"])
        seconds = (as_utc(saved) - as_utc(shown)).total_seconds()
        return seconds if seconds >= 0 else np.nan
    except (KeyError, TypeError, ValueError):
        return np.nan


def _batch(group: str, year: int, rows: list[Response], tz: str) -> ResponseBatch:
    items, page_ids, per_page = _layout(group, year, rows)
    answers = np.array([[_value((r.answers or {}).get(i)) for i in items] for r in rows],
                       dtype=np.float64).reshape(len(rows), len(items))
    page_seconds = np.array([[_page_seconds(r.page_times or {}, p) for p in page_ids] for r in rows],
                            dtype=np.float64).reshape(len(rows), len(page_ids))
    submitted = np.array([as_utc(r.submitted_at).timestamp() for r in rows if r.submitted_at])
    zone = ZoneInfo(tz)
    local = [as_utc(r.submitted_at).astimezone(zone) for r in rows if r.submitted_at]
    return ResponseBatch(
        ids=np.array([r.id for r in rows], dtype=np.int64), answers=answers,
        unit_ids=np.array([r.unit_id if r.unit_id is not None else -1 for r in rows], dtype=np.int64),
        submitted=submitted, page_seconds=page_seconds, items_per_page=np.array(per_page, dtype=np.float64),
        ip=codes([r.ip_hash for r in rows]), ua=codes([r.ua_hash for r in rows]),
        local_hour=np.array([t.hour + t.minute / 60 + t.second / 3600 for t in local]),
    )


def load_campaign(session: Session, campaign_id: int) -> CampaignData:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    institution = session.get(Institution, campaign.institution_id)
    tz = institution.timezone if institution else "Asia/Jakarta"
    rows = session.exec(
        select(Response).where(Response.campaign_id == campaign_id,
                               Response.status == ResponseStatus.submitted,
                               col(Response.submitted_at).is_not(None))
    ).all()
    by_group: dict[str, list[Response]] = defaultdict(list)
    for r in rows:
        by_group[r.group].append(r)
    batches = {
        g: _batch(g, rs[0].questionnaire_year, sorted(rs, key=lambda r: r.id or 0), tz)
        for g, rs in sorted(by_group.items())
    }
    sizes = session.exec(
        select(col(Assignment.unit_id), func.count()).where(
            col(Assignment.campaign_id) == campaign_id, col(Assignment.active).is_(True)
        ).group_by(col(Assignment.unit_id))
    ).all()
    parts = session.exec(
        select(Assignment.id, Assignment.unit_id, Assignment.counter, Assignment.created_at).where(
            Assignment.campaign_id == campaign_id, Assignment.kind == AssignmentKind.participatory,
            col(Assignment.created_at).is_not(None))
    ).all()
    links = session.exec(
        select(ResponseLink.assignment_id, ResponseLink.response_id)
        .join(Response, col(Response.id) == ResponseLink.response_id)
        .where(Response.campaign_id == campaign_id)
    ).all()
    return CampaignData(
        campaign=campaign, timezone=tz, batches=batches,
        reminders=_reminders(session, campaign_id),
        unit_sizes={int(u): int(n) for u, n in sizes if u is not None},
        counter_ids=np.array([p[0] for p in parts], dtype=np.int64),
        counter_keys=codes([f"{p[1]}|{p[2] or ''}" for p in parts]),
        # the query keeps only rows with a created_at; the row type cannot say so
        counter_times=np.array([as_utc(p[3]).timestamp() for p in parts], dtype=np.float64),  # type: ignore[arg-type]
        response_of_assignment={int(a): int(r) for a, r in links},
        sources={int(r.id): r.source for r in rows if r.id is not None},
        review_status={int(r.id): r.review_status for r in rows if r.id is not None},
    )


def _reminders(session: Session, campaign_id: int) -> list[tuple[int, float]]:
    """(unit id, first send time) of every reminder wave of every unit, from the dispatch outbox."""
    rows = session.exec(
        select(col(Outbox.unit_id), col(Outbox.wave), func.min(func.coalesce(Outbox.sent_at, Outbox.created_at)))
        .where(col(Outbox.campaign_id) == campaign_id, col(Outbox.purpose) == "reminder",
               col(Outbox.unit_id).is_not(None))
        .group_by(col(Outbox.unit_id), col(Outbox.wave))
    ).all()
    out = []
    for unit, _wave, at in rows:
        if at is not None and unit is not None:  # the query already leaves out rows without a unit
            at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            out.append((int(unit), as_utc(at).timestamp()))
    return out
