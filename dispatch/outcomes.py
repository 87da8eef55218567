"""What happens to a message after the provider refused it: one place for the refusal at send
time (the worker) and for the failure reported later (a status callback or look-up).

The channel turns the provider's code into our error and its `Action` (dispatch/channels/base.py;
Twilio's table: dispatch/channels/twilio/errors.py). Here each action becomes a transition:

    defer        pending until the messaging-limit window frees; attempt not counted; not failed
    marketing    pending 6 h, 12 h, 24 h later; after that, failed and sent by email (number kept)
    fallback     failed on this channel, sent on the other one at once; the address stays usable
    hold         pending; the sender's bulk lane is held and the admins are told
    unreachable  failed; the address is marked unreachable; the other channel takes over
    opted_out    failed; the address is marked unreachable (no more bulk to it)
    rejected     failed (this message only)
    retry        pending after a back-off (failures reported late only; the worker backs off itself)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from core.clock import utcnow
from core.config import get_settings
from dispatch import alerts, holds, limits, outbox
from dispatch.channels.base import Action, ChannelError
from dispatch.models import HoldScope, Outbox

log = logging.getLogger("spibot.dispatch")
MARKETING_DELAYS = (timedelta(hours=6), timedelta(hours=12), timedelta(hours=24))
UNKNOWN_WINDOW_DELAY = timedelta(hours=1)  # 63018 with no limit configured: look again in an hour
LATE_RETRY_DELAY = timedelta(minutes=5)


@dataclass(frozen=True)
class Ref:
    """The outbox row an error belongs to. `attempt_id` None: the provider had accepted it."""

    id: int
    attempt_id: str | None
    attempts: int
    channel: str
    sender: str
    institution_id: int | None = None


def after_error(session: Session, ref: Ref, err: ChannelError, *, now: datetime | None = None) -> str:
    """Apply `err` to the row; returns what became of it (deferred, retried, held, failed)."""
    now = now or utcnow()
    action, code, message = err.action, err.code, str(err)

    def back(at: datetime, *, count: bool) -> bool:
        return outbox.requeue(session, ref.id, attempt_id=ref.attempt_id, next_at=at,
                              error_class=err.error_class, code=code, message=message, count_attempt=count)

    if action is Action.defer:
        limit = get_settings().whatsapp_daily_limit
        if limit:
            at = limits.window_frees_at(session, 1, limit=limit, now=now)
        else:
            log.warning("the provider's messaging limit was reached but WHATSAPP_DAILY_LIMIT is unlimited: "
                        "set it to the senders' tier (spibot check)")
            at = now + UNKNOWN_WINDOW_DELAY
        back(at, count=False)
        return "deferred"
    if action is Action.marketing:
        if ref.attempts <= len(MARKETING_DELAYS):
            back(now + MARKETING_DELAYS[max(ref.attempts, 1) - 1], count=True)
            return "retried"
        outbox.mark_failed(session, ref.id, ref.attempt_id, code=code, error_class=err.reason,
                           message=message, unreachable=False, fallback=True)
        return "failed"
    if action is Action.hold:
        back(now, count=False)
        detail = f"{message} (provider code {code})" if code else message
        if holds.hold(session, HoldScope.sender, ref.sender, reason=detail, code=err.reason,
                      institution_id=ref.institution_id):
            alerts.sender_held(session, ref.sender, err.reason, detail)
        return "held"
    if action in (Action.retry, Action.rate_limited):
        back(now + LATE_RETRY_DELAY, count=True)
        return "retried"
    outbox.mark_failed(session, ref.id, ref.attempt_id, code=code, error_class=err.reason,
                       message=message, unreachable=action in (Action.unreachable, Action.opted_out),
                       fallback=action is Action.fallback)
    return "failed"


def after_provider_failure(session: Session, row: Outbox, err: ChannelError) -> bool:
    """A message the provider accepted and later reported failed (status callback, look-up)."""
    assert row.id is not None
    after_error(session, Ref(id=row.id, attempt_id=None, attempts=row.attempts, channel=row.channel,
                             sender=row.sender, institution_id=row.institution_id), err)
    return True
