"""The scheduler registers thin, non-overlapping jobs, and running them twice is harmless."""

from __future__ import annotations

from sqlmodel import select

import scheduler
from core.db import session_scope
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit


def test_jobs_are_registered_non_overlapping() -> None:
    sched = scheduler.build_scheduler()
    sched.start(paused=True)
    try:
        jobs = {job.id: job for job in sched.get_jobs()}
        assert set(jobs) == {func.__name__ for func, _ in scheduler.JOBS}
        assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    finally:
        sched.shutdown(wait=False)


def test_enqueue_due_waves_is_idempotent(db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dispatch.models import Outbox

    with session_scope(write=True) as s:
        inst = make_institution(s)
        unit = make_unit(s, inst)
        campaign = make_campaign(s, inst)
        for _ in range(3):
            make_assignment(s, campaign, make_person(s, unit))
    scheduler.job_enqueue_due_waves()
    scheduler.job_enqueue_due_waves()
    scheduler.job_reconcile_expired_leases()
    scheduler.job_answer_pending_inbound()
    assert scheduler.job_refresh_dashboard_snapshots() == {"campaigns": 1}
    with session_scope() as s:
        rows = s.exec(select(Outbox)).all()
    assert len(rows) == 3 and len({r.key for r in rows}) == 3


def test_close_due_campaigns_job_closes_at_the_closing_date_once(db_url: str) -> None:
    from datetime import timedelta

    from core.audit import AuditLog
    from core.clock import utcnow
    from core.models import Campaign

    now = utcnow()
    with session_scope(write=True) as s:
        inst = make_institution(s)
        past = make_campaign(s, inst, opens_at=now - timedelta(days=40), closes_at=now - timedelta(hours=1)).id
        running = make_campaign(s, inst).id
    assert scheduler.job_close_due_campaigns() == {"closed": [past]}
    assert scheduler.job_close_due_campaigns() == {"closed": []}  # idempotent
    with session_scope() as s:
        assert s.get(Campaign, past).status == "closed"  # type: ignore[union-attr]
        assert s.get(Campaign, running).status == "open"  # type: ignore[union-attr]
        assert len(s.exec(select(AuditLog).where(AuditLog.action == "campaign.close")).all()) == 1
