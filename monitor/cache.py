"""Expensive page figures cached by a cheap data version.

Scoring a campaign (twice on the integrity page: with and without flagged responses) or building
its score report reads every response's answers; that is far above a page's time budget. The
figures only change when their inputs do, so each is cached under a *data version*: a handful of
counts and latest timestamps read with one indexed query per request (a few milliseconds). When
any input changes the version changes and the next request recomputes. Exports always wait for
the exact figures; a page may instead wait a bounded time and then show the previous figures,
labelled with the time they were computed, while the refresh finishes in the background.

The cache lives in the web process (bounded, least recently used first out); each worker process
keeps its own. Keys carry the database URL and the campaign's identity, so two databases (or a
database recreated with the same ids) never share an entry.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Engine, text
from sqlmodel import Session

from core.clock import utcnow
from core.config import get_settings

T = TypeVar("T")
log = logging.getLogger("spibot.monitor")
MAX_ENTRIES = 512

# Inputs of scoring and of the integrity figures: the campaign's submitted responses (a new
# submission changes count/max id/max time), flags and decisions (Review rows: count, latest flag,
# latest decision; `record_review` always sets decided_at), the response marks set with them, and
# the correction points entered by the PIC/KPK; the campaign's status and dates; and which
# campaign it is (a database restored or recreated with the same ids holds another one). Every
# sub-select is on an indexed campaign_id or a primary key.
_SCORING_VERSION = """
SELECT
  (SELECT count(*) FROM response WHERE campaign_id = :c AND status = 'submitted'),
  (SELECT max(id) FROM response WHERE campaign_id = :c AND status = 'submitted'),
  (SELECT max(submitted_at) FROM response WHERE campaign_id = :c AND status = 'submitted'),
  (SELECT count(*) FROM response WHERE campaign_id = :c AND status = 'submitted' AND flagged),
  (SELECT count(*) FROM response WHERE campaign_id = :c AND status = 'submitted'
          AND flagged AND (review_status IS NULL OR review_status NOT IN ('kept', 'excluded'))),
  (SELECT count(*) FROM response WHERE campaign_id = :c AND status = 'submitted'
          AND review_status = 'excluded'),
  (SELECT count(*) FROM integrity_review WHERE campaign_id = :c),
  (SELECT max(flagged_at) FROM integrity_review WHERE campaign_id = :c),
  (SELECT max(decided_at) FROM integrity_review WHERE campaign_id = :c),
  (SELECT max(updated_at) FROM correctioninput WHERE campaign_id = :c),
  (SELECT status FROM campaign WHERE id = :c),
  (SELECT closes_at FROM campaign WHERE id = :c),
  (SELECT year FROM campaign WHERE id = :c),
  (SELECT created_at FROM campaign WHERE id = :c),
  (SELECT name FROM campaign WHERE id = :c),
  (SELECT i.code || '|' || i.name FROM institution i JOIN campaign c ON c.institution_id = i.id
   WHERE c.id = :c)
"""
_IDENTITY = 3  # the last three columns say which campaign this is (not what it holds)

# The score report adds participation (active assignments and who responded, per unit) and the
# unit list of the institution.
_REPORT_VERSION = """
SELECT
  (SELECT count(*) FROM assignment WHERE campaign_id = :c AND active),
  (SELECT max(id) FROM assignment WHERE campaign_id = :c),
  (SELECT count(responded_at) FROM assignment WHERE campaign_id = :c AND active),
  (SELECT count(*) FROM unit WHERE institution_id = :i),
  (SELECT max(id) FROM unit WHERE institution_id = :i),
  (SELECT count(*) FROM response WHERE campaign_id = :c)
"""


class DataVersion(NamedTuple):
    identity: Hashable  # which campaign: figures of another identity are never shown, not even as older
    data: Hashable  # what its inputs hold: another value means the figures are out of date


def _row(session: Session, sql: str, **params: Any) -> tuple[Any, ...]:
    row = session.execute(text(sql), params).one()
    return tuple(str(v) if v is not None and not isinstance(v, int | str) else v for v in row)


def scoring_version(session: Session, campaign_id: int) -> DataVersion:
    """Everything `score_institution` and the integrity figures depend on, in one query."""
    row = _row(session, _SCORING_VERSION, c=campaign_id)
    return DataVersion(row[-_IDENTITY:], (*row[:-_IDENTITY], get_settings().min_cell_size))


def report_version(session: Session, campaign_id: int, institution_id: int) -> DataVersion:
    """`scoring_version` plus participation and units (the score report's other inputs)."""
    scoring = scoring_version(session, campaign_id)
    return DataVersion(scoring.identity,
                       (*scoring.data, *_row(session, _REPORT_VERSION, c=campaign_id, i=institution_id)))  # type: ignore[misc]


def unflagged_equals_all(version: DataVersion) -> bool:
    """True when leaving flagged responses out removes nothing (every flagged response was decided:
    kept ones count in both, excluded ones in neither): both scorings are then the same."""
    return bool(version.data[4] == 0)  # type: ignore[index]


@dataclass
class Cached(Generic[T]):
    value: T
    computed_at: datetime
    fresh: bool  # False: computed from older data (a refresh is running); see computed_at


class VersionedCache:
    """name + campaign -> (version, value); a lookup with another version recomputes.

    With `wait` (seconds), a lookup that finds an older version recomputes in a background
    thread and waits at most that long: if the refresh is not done by then, the older figures are
    returned marked `fresh=False` with the time they were computed, so a page stays within its
    time budget on a large campaign. Without `wait` (exports, tests), it recomputes in the caller.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[Hashable, tuple[DataVersion, Any, datetime]] = OrderedDict()
        self._running: dict[Hashable, threading.Thread] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self.computed = 0  # how many times a value was (re)computed: for tests and benchmarks

    def get(self, session: Session, name: str, campaign_id: int, version: DataVersion,
            compute: Callable[[Session], T], wait: float | None = None) -> Cached[T]:
        bind = session.get_bind()
        key = (str(getattr(bind, "url", id(bind))), name, campaign_id, version.identity)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == version:
                self._entries.move_to_end(key)
                return Cached(found[1], found[2], True)
            running = self._running.get(key)
            if found is not None and wait is not None and running is None and isinstance(bind, Engine):
                running = threading.Thread(target=self._refresh, args=(bind, key, version, compute),
                                           daemon=True, name=f"cache-{name}-{campaign_id}")
                self._running[key] = running
                running.start()
        if found is None or wait is None or running is None:
            value = compute(session)
            return Cached(value, self._store(key, version, value), True)
        running.join(timeout=wait)
        with self._lock:
            latest = self._entries.get(key, found)
        return Cached(latest[1], latest[2], latest[0] == version)

    def _store(self, key: Hashable, version: DataVersion, value: Any) -> datetime:
        at = utcnow()
        with self._lock:
            self.computed += 1
            self._entries[key] = (version, value, at)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return at

    def _refresh(self, engine: Engine, key: Hashable, version: DataVersion,
                 compute: Callable[[Session], Any]) -> None:
        """Recompute in a session of its own. The value is stored under the version the request
        read; the data it saw is that or newer, so a newer version only refreshes once more."""
        try:
            with Session(engine, expire_on_commit=False) as session:
                value = compute(session)
            self._store(key, version, value)
        except Exception:  # noqa: BLE001 - the page keeps the older figures; logged
            log.exception("cache refresh of %s failed", key)
        finally:
            with self._lock:
                self._running.pop(key, None)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait for every running refresh (tests, benchmarks)."""
        with self._lock:
            threads = list(self._running.values())
        for t in threads:
            t.join(timeout)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = VersionedCache()
