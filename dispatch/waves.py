"""Waves per campaign, as the scheduler sees them: the opening blast, reminders at offsets after
the opening, and a last call before closing. The job only enqueues what is due; a `Wave` row per
(campaign, wave) records that it ran, and the outbox keys make a second run harmless anyway."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import session_scope
from core.models import Campaign
from dispatch.models import Purpose, Wave
from dispatch.service import commit_and_rearm as commit
from dispatch.service import enqueue_invitations, enqueue_reminder

log = logging.getLogger("spibot.dispatch")


def reminder_offsets(campaign: Campaign) -> list[float]:
    raw = (campaign.config or {}).get("reminder_offsets_days", get_settings().reminder_offsets_days)
    if isinstance(raw, str):
        raw = [p for p in raw.replace(" ", "").split(",") if p]
    return sorted(float(x) for x in raw)


def invitation_wave_key(campaign_id: int) -> str:
    return f"c{campaign_id}:invitation"


def due_waves(campaign: Campaign, now: datetime) -> list[tuple[str, str]]:
    """(wave key, purpose) of every wave of this campaign that is due at `now`."""
    assert campaign.opens_at and campaign.closes_at
    opens, closes = as_utc(campaign.opens_at), as_utc(campaign.closes_at)
    if campaign.status != "open" or not opens <= now < closes:
        return []
    due = [(invitation_wave_key(campaign.id), Purpose.invitation.value)]  # type: ignore[arg-type]
    for days in reminder_offsets(campaign):
        if now >= opens + timedelta(days=days):
            due.append((f"c{campaign.id}:reminder:{days:g}", Purpose.reminder.value))
    last_days = float((campaign.config or {}).get(
        "last_call_days_before_close", get_settings().last_call_days_before_close))
    if now >= closes - timedelta(days=last_days):
        due.append((f"c{campaign.id}:last_call", Purpose.last_call.value))
    return due


def commit_and_rearm(session: Session) -> None:
    commit(session)


def _start_wave(session: Session, key: str, campaign_id: int, purpose: str, now: datetime) -> bool:
    """True if this wave still has to run (new, or started but never finished)."""
    wave = session.execute(select(Wave).where(Wave.key == key)).scalar_one_or_none()  # type: ignore[arg-type]
    if wave is not None:
        return bool(wave.enqueued < 0)  # -1 = started, not finished (a crash): run again, idempotently
    session.add(Wave(key=key, campaign_id=campaign_id, purpose=purpose, enqueued=-1, created_at=now))
    commit_and_rearm(session)
    return True


def enqueue_due_waves(now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    result: dict[str, Any] = {"waves": [], "enqueued": 0}
    with session_scope(write=True) as session:
        campaigns = session.execute(select(Campaign).where(Campaign.status == "open")).scalars().all()  # type: ignore[arg-type]
        for campaign in campaigns:
            for key, purpose in due_waves(campaign, now):
                try:
                    if not _start_wave(session, key, campaign.id, purpose, now):
                        continue
                except Exception:  # noqa: BLE001 - another scheduler inserted it first
                    session.rollback()
                    commit_and_rearm(session)
                    continue
                if purpose == Purpose.invitation:
                    n = enqueue_invitations(session, campaign.id, now=now, commit_chunks=True)
                else:
                    n = enqueue_reminder(session, campaign.id, purpose=purpose, now=now,
                                         commit_chunks=True)
                session.execute(update(Wave).where(Wave.key == key).values(enqueued=n))  # type: ignore[arg-type]
                commit_and_rearm(session)
                result["waves"].append(key)
                result["enqueued"] += n
                log.info("wave %s: %d messages enqueued", key, n)
    return result
