"""Expensive page figures cached by a cheap data version.

Scoring a campaign (twice on the integrity page: with and without flagged responses) or building
its score report reads every response's answers; that is far above a page's time budget. The
figures only change when their inputs do, so each is cached under a *data version*: a handful of
counts and latest timestamps read with one indexed query per request (a few milliseconds). When
any input changes the version changes, the next request recomputes, and the figures are exact
again; nothing is ever shown from an older version.

The cache lives in the web process (bounded, least recently used first out); each worker process
keeps its own. Keys carry the database URL, so two databases never share an entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlmodel import Session

from core.config import get_settings

T = TypeVar("T")
MAX_ENTRIES = 512

# Inputs of scoring and of the integrity figures: the campaign's submitted responses (a new
# submission changes count/max id/max time), flags and decisions (Review rows: count, latest flag,
# latest decision; `record_review` always sets decided_at), the response marks set with them, and
# the correction points entered by the PIC/KPK; and the campaign and institution themselves (a
# database restored or recreated with the same ids holds another campaign). Every sub-select is
# on an indexed campaign_id or a primary key.
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
  (SELECT created_at FROM campaign WHERE id = :c),
  (SELECT closes_at FROM campaign WHERE id = :c),
  (SELECT year FROM campaign WHERE id = :c),
  (SELECT name FROM campaign WHERE id = :c),
  (SELECT i.code || '|' || i.name FROM institution i JOIN campaign c ON c.institution_id = i.id
   WHERE c.id = :c)
"""

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


def _row(session: Session, sql: str, **params: Any) -> tuple[Any, ...]:
    row = session.execute(text(sql), params).one()
    return tuple(str(v) if v is not None and not isinstance(v, int | str) else v for v in row)


def scoring_version(session: Session, campaign_id: int) -> tuple[Any, ...]:
    """Everything `score_institution` and the integrity figures depend on, in one query."""
    return (*_row(session, _SCORING_VERSION, c=campaign_id), get_settings().min_cell_size)


def report_version(session: Session, campaign_id: int, institution_id: int) -> tuple[Any, ...]:
    """`scoring_version` plus participation and units (the score report's other inputs)."""
    return (*scoring_version(session, campaign_id),
            *_row(session, _REPORT_VERSION, c=campaign_id, i=institution_id))


def unflagged_equals_all(version: tuple[Any, ...]) -> bool:
    """True when leaving flagged responses out removes nothing (every flagged response was decided:
    kept ones count in both, excluded ones in neither): both scorings are then the same."""
    return version[4] == 0


class VersionedCache:
    """name + campaign -> (version, value); a lookup with another version recomputes."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.computed = 0  # how many times a value was (re)computed: for tests and benchmarks

    def get(self, session: Session, name: str, campaign_id: int, version: Hashable,
            compute: Callable[[], T]) -> T:
        bind = session.get_bind()
        key = (str(getattr(bind, "url", id(bind))), name, campaign_id)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == version:
                self._entries.move_to_end(key)
                return found[1]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self.computed += 1
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = VersionedCache()
