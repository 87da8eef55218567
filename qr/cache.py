"""A short-lived, per-process cache behind the registration page: the unit, its institution and
the institution's latest campaign (detached read-only copies), and the rendered empty form per
counter and local day.

Why: the page behind the QR is the busiest public page (many phones at one counter at once);
three queries and a template render per view cost more than the rest of the request.

Freshness:
- a commit in this process that inserts, updates or deletes an Institution, Unit or Campaign
  through the ORM clears the whole cache (mapper events mark the session, `after_commit` clears);
- changes made by other processes (another web worker, the CLI) are seen after at most
  `TTL_SECONDS`;
- the campaign's opening and closing *times* are compared with the clock on every request, so a
  campaign opens and closes on the second whatever the cache holds; only a status changed by
  hand in another process (e.g. closed early) waits out the TTL on the GET page. The registration
  POST re-reads the campaign in its write transaction, so it never registers into a campaign
  that is no longer open.

Unknown codes are never cached (the cache cannot be filled by guessing), and the cache is
bounded (`MAX_ENTRIES`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session
from starlette.concurrency import run_in_threadpool

from core.config import get_settings
from core.db import session_scope
from core.models import Campaign, Institution, Unit
from qr import service

TTL_SECONDS = 10.0
MAX_ENTRIES = 20_000
_STALE = "qr_cache_stale"


@dataclass
class UnitView:
    """One public unit as the registration page needs it (detached; read only)."""

    institution: Institution
    unit: Unit
    campaign: Campaign | None
    expires: float
    pages: dict[tuple[str | None, date], bytes] = field(default_factory=dict)

    def page(self, counter: str | None, today: date, render: Callable[[], bytes]) -> bytes:
        """The empty form for this counter and day, rendered once per view."""
        key = (counter, today)
        body = self.pages.get(key)
        if body is None:
            body = self.pages[key] = render()
        return body


_views: dict[tuple[str, str, str], UnitView] = {}
_lock = threading.Lock()
_generation = 0  # bumped by clear(): a load that started before a clear is not stored


def clear() -> None:
    global _generation
    with _lock:
        _views.clear()
        _generation += 1


def _key(inst_code: str, unit_code: str) -> tuple[str, str, str]:
    return (get_settings().database_url, inst_code, unit_code)


def cached(inst_code: str, unit_code: str) -> UnitView | None:
    """The cached view if it is still fresh, else None (no database access)."""
    view = _views.get(_key(inst_code, unit_code))
    return view if view is not None and view.expires > time.monotonic() else None


def load(inst_code: str, unit_code: str) -> UnitView | None:
    """The view from the database (and cache it); None for an unknown or non-public unit."""
    key = _key(inst_code, unit_code)
    generation = _generation
    with session_scope() as session:
        institution = service.find_institution(session, inst_code)
        unit = service.find_unit(session, institution, unit_code) if institution else None
        if institution is None or unit is None:
            return None
        campaign = service.current_campaign(session, institution.id)  # type: ignore[arg-type]
    view = UnitView(institution, unit, campaign, time.monotonic() + TTL_SECONDS)
    with _lock:
        if generation == _generation:
            if len(_views) >= MAX_ENTRIES:
                _views.clear()
            _views[key] = view
    return view


def view_of(inst_code: str, unit_code: str) -> UnitView | None:
    return cached(inst_code, unit_code) or load(inst_code, unit_code)


async def aview_of(inst_code: str, unit_code: str) -> UnitView | None:
    """As `view_of`, for async routes: a hit costs no thread, a miss reads in the threadpool."""
    return cached(inst_code, unit_code) or await run_in_threadpool(load, inst_code, unit_code)


# --- invalidation on this process's commits -----------------------------------------------------


def _mark(_mapper: Any, _connection: Any, target: Any) -> None:
    session = object_session(target)
    if session is not None:
        session.info[_STALE] = True


for _model in (Institution, Unit, Campaign):
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _name, _mark)


@event.listens_for(Session, "after_commit")
def _clear_after_commit(session: Session) -> None:
    if session.info.pop(_STALE, False):
        clear()
