"""Quarterly reminders to the owner units of open actions, by email (scheduler job
`job_remind_action_owners`).

Each owner unit with a contact email (`Unit.contact_email`) and at least one action that is not
finished gets one email per calendar quarter (of the institution's local date) listing its
actions: the outbox key names campaign, unit and quarter (`dispatch.enqueue_notice`), so the job
may run every hour and a unit hears once a quarter.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlmodel import Session, col, select

from actionplan.models import ActionItem
from actionplan.service import settings, status_labels
from core.clock import format_date_id, local, utcnow
from core.db import session_scope
from core.models import Campaign, Institution, Unit
from core.templating import get_env, render
from dispatch import enqueue_notice


def quarter_of(moment: datetime, timezone: str) -> str:
    day = local(moment, timezone).date()
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def reminder_key(campaign_id: int, unit_id: int, quarter: str) -> str:
    return f"actionplan-reminder:c{campaign_id}:u{unit_id}:{quarter}"


def remind_owners(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Enqueue this quarter's reminder of every owner unit due one; {"due", "enqueued"}."""
    now = now or utcnow()
    closed = set(settings()["closed_statuses"])
    open_items = session.scalars(select(ActionItem).where(col(ActionItem.owner_unit_id).is_not(None),
                                                          col(ActionItem.status).not_in(closed))).all()
    by_owner: dict[tuple[int, int], list[ActionItem]] = defaultdict(list)
    for item in open_items:
        assert item.owner_unit_id is not None
        by_owner[item.campaign_id, item.owner_unit_id].append(item)
    due = enqueued = 0
    for (campaign_id, unit_id), actions in sorted(by_owner.items()):
        unit, campaign = session.get(Unit, unit_id), session.get(Campaign, campaign_id)
        if unit is None or campaign is None or not unit.contact_email:
            continue
        inst = session.get(Institution, campaign.institution_id)
        assert inst is not None
        quarter = quarter_of(now, inst.timezone)
        due += 1
        context = {"unit": unit.name, "institution": inst.name, "quarter": quarter,
                   "actions": [{"text": a.action or a.recommendation, "status": status_labels().get(a.status, a.status),
                                "due": format_date_id(a.due_date) if a.due_date else "-"} for a in actions]}
        subject = get_env().from_string(str(settings()["reminder_subject"])).render(**context)
        enqueued += enqueue_notice(session, key=reminder_key(campaign_id, unit_id, quarter), to=unit.contact_email,
                                   subject=subject, text=render("email/action_plan_reminder.txt", **context),
                                   institution_id=inst.id, now=now)
    return {"due": due, "enqueued": enqueued}


def run_reminders() -> dict[str, int]:
    """The scheduler's job: one transaction (idempotent by the outbox keys)."""
    with session_scope(write=True) as session:
        return remind_owners(session)
