"""Abuse limits for the public forms.

- Per client IP: a sliding window kept in this process's memory (IP addresses are not stored
  in the database). With several web workers each keeps its own window, so the effective limit
  is `QR_IP_LIMIT` x workers; the per-counter limit below is the shared backstop.
- Per counter (loket): counted in the database from the registrations themselves
  (`Assignment.created_at`), so it holds across workers and restarts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from core.clock import utcnow
from core.models import Assignment, AssignmentKind, Person


class SlidingWindow:
    """At most `limit` hits per key in any `window` seconds (thread-safe, bounded memory)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, limit: int, window: float, now: float | None = None) -> bool:
        """Record a hit; False (and nothing recorded) when the key is over its limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self._max_keys:
                    self._evict(now, window)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    def _evict(self, now: float, window: float) -> None:
        stale = [k for k, v in self._hits.items() if not v or v[-1] <= now - window]
        for key in stale:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:  # still full: forget the oldest half
            for key in list(self._hits)[: self._max_keys // 2]:
                del self._hits[key]

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


ip_window = SlidingWindow()


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
