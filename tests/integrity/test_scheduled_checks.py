"""The scheduler job runs the integrity checks on open campaigns only, idempotently."""

from __future__ import annotations

from sqlmodel import Session, func, select

import scheduler
from core.audit import AuditLog
from integrity.models import Review
from tests.integrity.helpers import build_world


def _count(session: Session, model: type, *where: object) -> int:
    session.rollback()  # a fresh snapshot: the job wrote through its own sessions
    return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def test_job_flags_open_campaigns_once_and_skips_closed_ones(session: Session) -> None:
    open_world = build_world(session, n=40)
    closed = build_world(session, n=40, seed=1, status="closed")
    assert scheduler.job_flag_open_campaigns in [f for f, _ in scheduler.JOBS]

    first = scheduler.job_flag_open_campaigns()
    assert first["campaigns"] == 1 and first["failed"] == 0 and first["new_reviews"] >= 11
    assert _count(session, Review, Review.campaign_id == open_world.campaign.id) == first["new_reviews"]
    assert _count(session, Review, Review.campaign_id == closed.campaign.id) == 0
    audits = _count(session, AuditLog, AuditLog.action == "integrity.flag")
    assert audits == 1

    again = scheduler.job_flag_open_campaigns()
    assert again == {"campaigns": 1, "new_reviews": 0, "failed": 0}
    assert _count(session, Review) == first["new_reviews"]
    assert _count(session, AuditLog, AuditLog.action == "integrity.flag") == audits  # no noise
