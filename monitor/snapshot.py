"""The national snapshot: figures per campaign pre-aggregated in one grouped pass.

The admin's national view reads 640 snapshot rows instead of grouping 600,000 assignments and
2,000,000 outbox rows per request. A stale snapshot is refreshed in a background thread (one at a
time) while the page shows the previous figures with their age; `spibot monitor refresh` or a
scheduler job can refresh it too.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import and_, case, delete, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import session_scope
from core.models import Assignment, Campaign
from dispatch import Outbox
from monitor.models import CampaignSnapshot
from monitor.stats import DELIVERED, SENT

log = logging.getLogger("spibot.monitor")
_refreshing = threading.Lock()


def compute(session: Session) -> list[CampaignSnapshot]:
    now = utcnow()
    snaps: dict[int, CampaignSnapshot] = {}
    for campaign_id, institution_id in session.exec(select(Campaign.id, Campaign.institution_id)):
        assert campaign_id is not None  # a primary key
        snaps[campaign_id] = CampaignSnapshot(
            campaign_id=campaign_id, institution_id=institution_id, refreshed_at=now)
    for campaign_id, n, responded in session.exec(
        select(col(Assignment.campaign_id), func.count(), func.count(col(Assignment.responded_at)))
        .where(col(Assignment.active).is_(True)).group_by(col(Assignment.campaign_id))
    ):
        if campaign_id in snaps:
            snaps[campaign_id].sampled, snaps[campaign_id].responded = n, responded
    # Best status per (assignment) first, then counted per campaign: one pass, no DISTINCT
    # over the whole table per column.
    level = case(
        (col(Outbox.status) == "read", 4),
        (col(Outbox.status).in_(DELIVERED), 3),
        (col(Outbox.status).in_(SENT), 2),
        (col(Outbox.status) == "failed", 1),
        else_=0,
    )
    # Respondents as the campaign pages count them (monitor.stats.funnel): active assignments only,
    # so neither a replaced respondent nor a row without one (a bot reply) adds to "sent".
    per_assignment = (
        select(col(Outbox.campaign_id).label("cid"), col(Outbox.assignment_id).label("aid"),
               func.max(level).label("lvl"))
        .join(Assignment, and_(col(Assignment.id) == col(Outbox.assignment_id), col(Assignment.active).is_(True)))
        .group_by(col(Outbox.campaign_id), col(Outbox.assignment_id))
        .subquery()
    )
    lvl = per_assignment.c.lvl
    # SQLModel's select() is typed for at most 4 entities, SQLAlchemy's for up to 10
    for cid, queued, sent, delivered, read, failed in session.execute(
        sa_select(
            per_assignment.c.cid, func.count(),
            func.count(case((lvl >= 2, 1))), func.count(case((lvl >= 3, 1))),
            func.count(case((lvl >= 4, 1))), func.count(case((lvl == 1, 1))),
        ).group_by(per_assignment.c.cid)
    ):
        if cid in snaps:
            s = snaps[cid]
            s.queued, s.sent, s.delivered, s.read, s.failed = queued, sent, delivered, read, failed
    return list(snaps.values())


def refresh_snapshots(url: str | None = None) -> int:
    """Recompute every campaign's snapshot in one transaction; returns the number of campaigns."""
    with session_scope(write=True, url=url) as session:
        snaps = compute(session)
        session.exec(delete(CampaignSnapshot))
        session.add_all(snaps)
    return len(snaps)


def snapshot_age(session: Session) -> datetime | None:
    return session.exec(select(func.min(CampaignSnapshot.refreshed_at))).one()


def ensure_fresh() -> datetime | None:
    """Refresh synchronously when there is no snapshot, in the background when it is stale.

    Call it before opening the session that reads the snapshot (a reader's transaction would not
    see a refresh committed after it started). Returns the time of the snapshot to be read.
    """
    with session_scope() as session:
        at = snapshot_age(session)
    if at is None:
        with _refreshing:
            refresh_snapshots()
        with session_scope() as session:
            at = snapshot_age(session)
        return as_utc(at) if at else None
    if (utcnow() - as_utc(at)).total_seconds() > get_settings().monitor_snapshot_seconds:
        if _refreshing.acquire(blocking=False):
            threading.Thread(target=_background_refresh, daemon=True).start()
    return as_utc(at)


def _background_refresh() -> None:
    try:
        refresh_snapshots()
    except Exception:  # noqa: BLE001 - a failed refresh keeps the old figures; logged
        log.exception("national snapshot refresh failed")
    finally:
        _refreshing.release()
