"""APScheduler wiring only: thin, idempotent, non-overlapping jobs that call services.

The outbox is the truth about sending (docs/architecture.md §3): every job here only *enqueues
what is due* or *reconciles expired leases*, guarded by unique keys, so running a job twice is
harmless.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from actionplan.reminders import run_reminders as remind_action_owners
from app.backup import daily_backup
from bot.service import kick
from core.campaigns import close_due
from core.config import get_settings
from core.db import session_scope
from core.metrics import timed_job
from dispatch.alerts import check_ops
from dispatch.bounces import poll_bounces
from dispatch.service import enqueue_due_waves, reconcile_expired_leases
from dispatch.templates import scheduled_sync
from dispatch.worker import run_worker_thread
from integrity.service import flag_open_campaigns
from monitor.snapshot import refresh_snapshots
from monitor.unit_links import run_reminders

log = logging.getLogger("spibot.scheduler")


def job_enqueue_due_waves() -> dict[str, Any]:
    return enqueue_due_waves()


def job_close_due_campaigns() -> dict[str, Any]:
    """Close every campaign whose closing date has passed (idempotent; who/when/why recorded).
    Before the waves: a campaign past its date gets no wave (and the worker sends nothing of it)."""
    with session_scope(write=True) as session:
        return {"closed": close_due(session)}


def job_reconcile_expired_leases() -> dict[str, Any]:
    return reconcile_expired_leases()


def job_answer_pending_inbound() -> dict[str, Any]:
    """Answer inbound messages a crashed process stored but never answered."""
    kick()
    return {}


def job_refresh_dashboard_snapshots() -> dict[str, Any]:
    """Pre-aggregate the national view so no dashboard request scans the whole outbox."""
    return {"campaigns": refresh_snapshots()}


def job_flag_open_campaigns() -> dict[str, Any]:
    """Integrity signals on every open campaign; new flags are stored for review (idempotent)."""
    return flag_open_campaigns()


def job_sync_template_approvals() -> dict[str, Any]:
    """WhatsApp template status and category from Twilio: hold a template that is not approved
    as UTILITY, release it when it is again (nothing to do unless WHATSAPP_BACKEND=twilio)."""
    return scheduled_sync()


def job_poll_bounces() -> dict[str, Any]:
    """Late bounces (DSNs) from the bounce mailbox: a permanent one fails its email, marks the
    address unreachable and falls back to WhatsApp (nothing to do unless BOUNCE_IMAP_HOST is set)."""
    return poll_bounces()


def job_backup() -> dict[str, Any]:
    """The daily database backup into BACKUP_DIR, with its retention (app.backup); skipped when
    a backup younger than 20 hours exists (e.g. made by the systemd timer)."""
    path = daily_backup()
    return {"backup": str(path) if path else None}


def job_check_ops() -> dict[str, Any]:
    """Operational alerts by email (lane paused, worker silent, callback lag, disk nearly full):
    one per incident, re-armed when it clears (dispatch.alerts.check_ops)."""
    with session_scope(write=True) as session:
        return check_ops(session)



def job_remind_unit_uploads() -> dict[str, Any]:
    """A reminder email before the data deadline to units whose file has not arrived (once per
    unit per deadline: the outbox key)."""
    return run_reminders()

def job_remind_action_owners() -> dict[str, Any]:
    """A quarterly email to each owner unit of unfinished actions (once per unit per quarter:
    the outbox key; actionplan.reminders)."""
    return remind_action_owners()


JOBS = [
    (job_close_due_campaigns, 60),
    (job_enqueue_due_waves, 60),
    (job_reconcile_expired_leases, 30),
    (job_answer_pending_inbound, 30),
    (job_refresh_dashboard_snapshots, 240),
    (job_flag_open_campaigns, 3600),
    (job_sync_template_approvals, 900),
    (job_poll_bounces, 300),
    (job_remind_unit_uploads, 900),
    (job_check_ops, 60),
    (job_remind_action_owners, 3600),
]


def build_scheduler() -> BackgroundScheduler:
    sched = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True})
    for func, seconds in JOBS:
        sched.add_job(timed_job(func), "interval", seconds=seconds, id=func.__name__, replace_existing=True)
    settings = get_settings()
    if settings.backup_dir:  # daily, only when backups are configured (docs/deploy.md)
        sched.add_job(timed_job(job_backup), "cron", hour=settings.backup_hour_utc, minute=0,
                      id=job_backup.__name__, replace_existing=True)
    return sched


@dataclass
class Background:
    scheduler: BackgroundScheduler | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def stop(self) -> None:
        self.stop_event.set()
        if self.scheduler:
            self.scheduler.shutdown(wait=False)
        for t in self.threads:
            t.join(timeout=10)


def start_background(*, with_scheduler: bool = True, with_worker: bool = True) -> Background:
    """Start the scheduler and (for the embedded default) one dispatch worker thread."""
    bg = Background()
    if with_scheduler:
        bg.scheduler = build_scheduler()
        bg.scheduler.start()
        for func, _ in JOBS:  # run once at start so a fresh demo sends at once
            bg.scheduler.add_job(timed_job(func), id=f"{func.__name__}-now")
    if with_worker:
        bg.threads.append(run_worker_thread(bg.stop_event))
    return bg
