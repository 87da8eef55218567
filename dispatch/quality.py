"""The quality guard: a rolling window per WhatsApp sender of what lowers a number's quality
rating with Meta (docs/whatsapp.md): people saying STOP, messages WhatsApp held back (per-user
marketing limits, experiments), undelivered messages, and (optionally) a low read share. Past a
threshold the sender's bulk lane is held (code "quality") and the admins are told; replies keep
flowing; a person resumes it (dashboard, `spibot resume --sender`). After a resume the window
starts again from that moment, so the drop that tripped the guard does not trip it at once again.

The worker checks every QUALITY_CHECK_SECONDS (and once when it starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.audit import AuditLog
from core.clock import as_utc, utcnow
from core.config import Settings, get_settings
from core.models import OptOut
from dispatch import alerts, holds
from dispatch.models import HoldScope, Outbox, Purpose, Status

T = Outbox.__table__  # type: ignore[attr-defined]
QUALITY_CHECK_SECONDS = 60.0
HELD_BACK = ("marketing_limit", "fallback")  # WhatsApp held the message back from this user
UNDELIVERED = ("delivery", "permanent", "not_whatsapp", "invalid_address", "opted_out", "rejected",
               "marketing_limit", "fallback")


@dataclass(frozen=True)
class SenderQuality:
    sender: str
    since: datetime
    sent: int
    opted_out: int
    held_back: int
    undelivered: int
    read: int

    def rate(self, n: int) -> float:
        return n / self.sent if self.sent else 0.0

    def problems(self, s: Settings) -> list[str]:
        """What is past its threshold, in English (for the hold's reason and the admins)."""
        if self.sent < s.quality_min_sent:
            return []
        out = []
        for label, n, limit in (("opt-outs (STOP)", self.opted_out, s.quality_max_optout_rate),
                                ("messages WhatsApp held back", self.held_back, s.quality_max_held_back_rate),
                                ("undelivered", self.undelivered, s.quality_max_undelivered_rate)):
            if self.rate(n) > limit:
                out.append(f"{label} {self.rate(n):.1%} > {limit:.1%}")
        if s.quality_min_read_rate and self.rate(self.read) < s.quality_min_read_rate:
            out.append(f"read {self.rate(self.read):.1%} < {s.quality_min_read_rate:.1%}")
        return out


def _since(session: Session, sender: str, now: datetime, window: timedelta) -> datetime:
    """The window's start: not before the last time a person resumed this sender."""
    resumed = session.execute(
        select(func.max(AuditLog.at)).where(col(AuditLog.action) == "dispatch.resume",
                                            col(AuditLog.target) == f"{HoldScope.sender}:{sender}")
    ).scalar_one_or_none()
    start = now - window
    return max(start, as_utc(resumed)) if resumed else start


def measure(session: Session, sender: str, *, now: datetime | None = None,
            settings: Settings | None = None) -> SenderQuality:
    s = settings or get_settings()
    now = now or utcnow()
    since = _since(session, sender, now, timedelta(hours=s.quality_window_hours))
    mine = (T.c.sender == sender) & (T.c.channel == "whatsapp") & (T.c.purpose != Purpose.reply)
    sent_rows = mine & (T.c.sent_at >= since)
    sent, read = session.execute(select(
        func.count(), func.count().filter(T.c.status == Status.read)).where(sent_rows)).one()
    touched = mine & (T.c.updated_at >= since)
    held_back, undelivered = session.execute(select(
        func.count().filter(T.c.error_class.in_(HELD_BACK)),
        func.count().filter((T.c.status == Status.failed) & T.c.error_class.in_(UNDELIVERED)),
    ).where(touched)).one()
    reached = select(T.c.to_address).where(mine, T.c.sent_at >= since - timedelta(hours=24))
    opted = session.execute(select(func.count()).select_from(OptOut).where(
        col(OptOut.opted_out_at) >= since, col(OptOut.channel) == "whatsapp",
        col(OptOut.address).in_(reached))).scalar_one()
    # A message WhatsApp held back was never sent: count it in the base too.
    return SenderQuality(sender, since, int(sent) + int(held_back), int(opted), int(held_back),
                         int(undelivered), int(read))


def check(session: Session, *, now: datetime | None = None) -> list[SenderQuality]:
    """Hold every sender past a threshold (idempotent); returns the senders newly held."""
    s = get_settings()
    senders = {x for x in (s.whatsapp_sender_internal, s.whatsapp_sender_external) if x}
    held = holds.current(session).senders
    tripped = []
    for sender in sorted(senders - held):
        q = measure(session, sender, now=now, settings=s)
        problems = q.problems(s)
        if not problems:
            continue
        reason = f"quality guard: {'; '.join(problems)} of {q.sent} messages since {q.since:%Y-%m-%d %H:%M} UTC"
        if holds.hold(session, HoldScope.sender, sender, reason=reason, code="quality"):
            alerts.sender_held(session, sender, "quality", reason)
            tripped.append(q)
    return tripped
