"""What a wave would send, before it is enqueued: counts per channel and the WhatsApp cost.

Nothing is written. The rules are those of `dispatch.service` (its helpers are reused, so the
preview follows them when they change): active, non-responding assignments; WhatsApp when the
person has a usable number, else email; opted-out and unreachable addresses skipped; reminders
only after the minimum gap and up to the maximum count; and a message whose outbox key already
exists is not counted again, as enqueueing would insert nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import utcnow
from core.config import get_settings
from core.models import Assignment, Campaign, Person, Unit
from dispatch import content
from dispatch.cost import CostEstimate, estimate
from dispatch.models import Outbox, Purpose
from dispatch.service import (
    _blocked,
    _campaign,
    _iter_targets,
    _reminder_history,
    choose_channel,
    message_key,
)

WAVE_PURPOSES = (Purpose.invitation.value, Purpose.reminder.value, Purpose.last_call.value)


@dataclass(frozen=True)
class WavePreview:
    """The messages a wave would enqueue now, and what its WhatsApp templates would cost."""

    campaign_id: int
    purpose: str
    template: str
    whatsapp: int  # WhatsApp template messages that would be enqueued
    email: int  # emails that would be enqueued
    no_channel: int  # due, but no usable number or email (opted out, unreachable or missing)
    already_enqueued: int  # due, but this message is already in the outbox
    not_due: int  # reminders only: too soon after the last message, or the maximum reached
    cost: CostEstimate

    @property
    def messages(self) -> int:
        return self.whatsapp + self.email


@dataclass
class _Tally:
    whatsapp: int = 0
    email: int = 0
    no_channel: int = 0
    already_enqueued: int = 0
    not_due: int = 0


def wave_preview(
    session: Session, campaign_id: int, purpose: str = "invitation", *,
    unit_id: int | None = None, now: datetime | None = None,
) -> WavePreview:
    """Count, without enqueuing anything, what `enqueue_invitations` (purpose "invitation") or
    `enqueue_reminder` ("reminder", "last_call"; optionally for one unit) would enqueue now."""
    if purpose not in WAVE_PURPOSES:
        raise ValueError(f"no wave with purpose {purpose!r}; use one of {', '.join(WAVE_PURPOSES)}")
    if purpose == Purpose.invitation and unit_id is not None:
        raise ValueError("the invitation wave covers the whole campaign; unit_id is for reminders")
    now = now or utcnow()
    campaign, _ = _campaign(session, campaign_id)
    tally = _Tally()
    for chunk in _iter_targets(session, campaign, unit_id=unit_id):
        wave_of = _due(session, campaign, chunk, purpose, now)
        tally.not_due += len(chunk) - len(wave_of)
        _count_chunk(session, chunk, purpose, wave_of, tally)
    template = content.TEMPLATE_OF_PURPOSE[purpose]
    return WavePreview(
        campaign_id=campaign_id, purpose=purpose, template=template, whatsapp=tally.whatsapp,
        email=tally.email, no_channel=tally.no_channel, already_enqueued=tally.already_enqueued,
        not_due=tally.not_due, cost=estimate({template: tally.whatsapp}),
    )


def _due(
    session: Session, campaign: Campaign, chunk: list[tuple[Assignment, Person, Unit | None]],
    purpose: str, now: datetime,
) -> dict[int, int]:
    """assignment id -> wave number, for the assignments of `chunk` this wave would message
    (the selection of `enqueue_invitations` / `enqueue_reminder`)."""
    ids = [a.id for a, _, _ in chunk if a.id is not None]
    if purpose == Purpose.invitation:
        return dict.fromkeys(ids, 1)
    settings = get_settings()
    cfg = campaign.config or {}
    gap = timedelta(days=float(cfg.get("reminder_min_gap_days", settings.reminder_min_gap_days)))
    max_count = int(cfg.get("reminder_max_count", settings.reminder_max_count))
    history = _reminder_history(session, ids)
    wave_of: dict[int, int] = {}
    for aid in ids:
        count, last, had_last_call = history.get(aid, (0, None, False))
        if last is not None and now - last < gap:
            continue
        if purpose == Purpose.last_call:
            if not had_last_call:
                wave_of[aid] = 1
        elif count < max_count:
            wave_of[aid] = count + 1
    return wave_of


def _count_chunk(
    session: Session, chunk: list[tuple[Assignment, Person, Unit | None]], purpose: str,
    wave_of: dict[int, int], tally: _Tally,
) -> None:
    blocked = _blocked(session, [a for _, p, _ in chunk for a in (p.phone, p.email and p.email.lower()) if a])
    planned: dict[str, str] = {}  # outbox key -> channel
    for assignment, person, _ in chunk:
        if assignment.id is None or assignment.id not in wave_of:
            continue
        picked = choose_channel(person, blocked)
        if picked is None:
            tally.no_channel += 1
            continue
        channel = picked[0]
        planned[message_key(purpose, wave_of[assignment.id], assignment.id, channel)] = channel
    if not planned:
        return
    existing = set(session.execute(
        select(col(Outbox.key)).where(col(Outbox.key).in_(list(planned)))).scalars())
    tally.already_enqueued += len(existing)
    for key, channel in planned.items():
        if key in existing:
            continue
        if channel == "whatsapp":
            tally.whatsapp += 1
        else:
            tally.email += 1


__all__ = ["WavePreview", "wave_preview"]
