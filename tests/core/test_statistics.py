"""analyze_if_stale: fresh planner statistics after a bulk load (PostgreSQL), a no-op on SQLite."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from core.db import analyze_if_stale, is_sqlite


def _flush_stats(session: Session) -> None:
    session.execute(text("SELECT pg_stat_force_next_flush()"))
    session.commit()  # the backend reports its counters at transaction end


def test_a_bulk_loaded_table_is_analyzed_once(session: Session) -> None:
    if is_sqlite(session):
        assert analyze_if_stale(session, "assignment") is False
        return
    session.execute(text("DROP TABLE IF EXISTS stats_probe"))
    session.execute(text("CREATE TABLE stats_probe (id int)"))
    session.commit()
    assert analyze_if_stale(session, "stats_probe") is False  # nothing changed yet
    session.execute(text("INSERT INTO stats_probe SELECT generate_series(1, 5000)"))
    _flush_stats(session)
    assert analyze_if_stale(session, "stats_probe") is True
    session.commit()
    stats = session.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'stats_probe'")).scalar_one()
    assert stats == 5000  # the planner now knows the table's size
    _flush_stats(session)
    assert analyze_if_stale(session, "stats_probe") is False  # fresh: not again
    session.execute(text("DROP TABLE stats_probe"))
    session.commit()
