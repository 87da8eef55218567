"""Abuse limits for the public forms.

- Per client IP: a sliding window in `core.ratewindow.rate_window()` (`ip_allowed`). With
  REDIS_URL set it is shared by every web worker and machine; without it each web worker keeps
  its own window, so the effective limit is `QR_IP_LIMIT` x workers and the per-counter limit
  below is the shared backstop. IP addresses are not stored in the database (in Redis only as
  keyed hashes, expiring with the window).
- Per counter (loket): counted in the database from the registrations themselves
  (`Assignment.created_at`), so it holds across workers and restarts.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from core.clock import utcnow
from core.config import get_settings
from core.models import Assignment, AssignmentKind, Person
from core.ratewindow import hit_async, rate_window


def ip_allowed(form: str, ip: str) -> bool:
    """Record one submission of `form` ("reg", "gb") from `ip`; False when the IP is over
    QR_IP_LIMIT in QR_IP_WINDOW_SECONDS (nothing recorded then)."""
    settings = get_settings()
    return rate_window().hit(f"{form}|{ip}", settings.qr_ip_limit, settings.qr_ip_window_seconds)


async def ip_allowed_async(form: str, ip: str) -> bool:
    """`ip_allowed` for async handlers (a Redis window is asked from a thread)."""
    settings = get_settings()
    return await hit_async(rate_window(), f"{form}|{ip}", settings.qr_ip_limit,
                           settings.qr_ip_window_seconds)


def counter_registrations(session: Session, campaign_id: int, unit_id: int, counter: str | None,
                          window_seconds: int) -> int:
    """Participatory registrations at this counter in the campaign in the last `window_seconds`
    (campaign first: the (campaign_id, unit_id) index finds the unit's rows without a scan)."""
    since = utcnow() - timedelta(seconds=window_seconds)
    query = select(func.count()).select_from(Assignment).where(
        Assignment.campaign_id == campaign_id,
        Assignment.unit_id == unit_id,
        Assignment.kind == AssignmentKind.participatory,
        Assignment.created_at >= since,  # type: ignore[operator]
    )
    query = query.where(Assignment.counter == counter if counter else Assignment.counter.is_(None))  # type: ignore[union-attr]
    return int(session.exec(query).one())


def guestbook_entries(session: Session, unit_id: int, window_seconds: int) -> int:
    since = utcnow() - timedelta(seconds=window_seconds)
    query = select(func.count()).select_from(Person).where(
        Person.unit_id == unit_id, Person.source == "guestbook",
        Person.created_at >= since,  # type: ignore[operator]
    )
    return int(session.exec(query).one())
