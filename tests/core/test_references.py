"""The references of assignment (campaign, person, unit) and person (institution, unit) hold on
both backends.

SQLite enforces them with foreign keys; PostgreSQL with the statement-level triggers of migration
0003 (a national draw's one COPY is checked once, not row by row). The same rules are asserted on
both, plus PostgreSQL's concurrency cases (a delete racing an insert), for the row-lock path and
for the bulk path (from BULK_IDS distinct ids a statement).
"""

from __future__ import annotations

import importlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.clock import utcnow
from core.db import get_engine
from core.models import Campaign, Institution, Person, Unit
from core.references import TRIGGER_CHECKED
from population.bulk import BulkWriter
from population.drawing import assignment_writer, write_assignments
from tests.fixtures.db import migrate

MIGRATION = importlib.import_module("migrations.versions.0003_references_checked_per_statement")
BULK_IDS: int = MIGRATION.BULK_IDS
PEOPLE = 3
# The draw's writer uses the DBAPI connection directly: its errors arrive unwrapped.
REFUSED = (IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)


@pytest.fixture
def base(db_url: str) -> Iterator[str]:
    """Institution 1, campaign 1, units 1 and 2, people 1..PEOPLE (unit 1); nothing assigned."""
    with Session(get_engine(db_url)) as session:
        session.add(Institution(id=1, code="I1", name="Kab. Contoh"))
        session.flush()
        now = utcnow()
        session.add(Campaign(id=1, institution_id=1, year=2024, name="SPI", opens_at=now,
                             closes_at=now + timedelta(days=30), status="open"))
        session.add_all([Unit(id=unit, institution_id=1, code=f"u{unit}", name=f"Unit {unit}") for unit in (1, 2)])
        session.flush()
        session.add_all([Person(id=pid, institution_id=1, unit_id=1, group="internal", name=f"P{pid}")
                         for pid in range(1, PEOPLE + 1)])
        session.commit()
    yield db_url


def _assign(conn: Connection, aid: int, person: int, campaign: int = 1, unit: int | None = 1) -> None:
    conn.execute(text("INSERT INTO assignment (id, campaign_id, person_id, unit_id, \"group\", kind, active, "
                      "token_nonce, token_hash) VALUES (:a, :c, :p, :u, 'internal', 'sampled', true, :n, :h)"),
                 {"a": aid, "c": campaign, "p": person, "u": unit, "n": f"{aid:032x}", "h": aid.to_bytes(32, "big")})


def _count(url: str, table: str = "assignment") -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608 - test constant


def _refused(url: str, change: Callable[[Connection], None]) -> None:
    with pytest.raises(IntegrityError) as caught, get_engine(url).begin() as conn:
        change(conn)
    assert "23503" in str(getattr(caught.value.orig, "sqlstate", "23503"))  # foreign_key_violation (PostgreSQL)


@pytest.mark.parametrize(("person", "campaign", "unit"), [(99, 1, 1), (1, 99, 1), (1, 1, 99)],
                         ids=["person", "campaign", "unit"])
def test_an_assignment_refers_to_existing_rows(base: str, person: int, campaign: int, unit: int) -> None:
    _refused(base, lambda conn: _assign(conn, 1, person, campaign, unit))
    assert _count(base) == 0
    with get_engine(base).begin() as conn:
        _assign(conn, 1, 1, 1, None)  # no unit is allowed
        _assign(conn, 2, 2, 1, 2)
    assert _count(base) == 2


@pytest.mark.parametrize(("column", "value"), [("person_id", 99), ("campaign_id", 99), ("unit_id", 99)])
def test_an_assignment_cannot_be_pointed_at_a_missing_row(base: str, column: str, value: int) -> None:
    with get_engine(base).begin() as conn:
        _assign(conn, 1, 1)
    _refused(base, lambda conn: conn.execute(text(f"UPDATE assignment SET {column} = :v"), {"v": value}))
    with get_engine(base).begin() as conn:  # pointing at an existing row is fine
        conn.execute(text("UPDATE assignment SET person_id = 2, unit_id = 2"))
        assert conn.execute(text("SELECT person_id, unit_id FROM assignment")).one() == (2, 2)


@pytest.mark.parametrize("table", ["person", "unit", "campaign"])
def test_a_referenced_row_cannot_be_deleted_or_renumbered(base: str, table: str) -> None:
    with get_engine(base).begin() as conn:
        _assign(conn, 1, 1, 1, 2)  # unit 2: no person refers to it, only the assignment
    row = 2 if table == "unit" else 1
    _refused(base, lambda conn: conn.execute(text(f"DELETE FROM {table} WHERE id = :i"), {"i": row}))
    _refused(base, lambda conn: conn.execute(text(f"UPDATE {table} SET id = 500 WHERE id = :i"), {"i": row}))
    with get_engine(base).begin() as conn:  # once nothing refers to it, it can go
        conn.execute(text("DELETE FROM assignment"))
        conn.execute(text(f"DELETE FROM {table} WHERE id = :i"), {"i": row})
        assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE id = :i"), {"i": row}).scalar() == 0


@pytest.mark.parametrize("table", ["person", "unit", "campaign", "institution"])
def test_a_referenced_table_cannot_be_truncated_from_under_its_references(base: str, table: str) -> None:
    """PostgreSQL (migration 0004): TRUNCATE, even with CASCADE (which follows only the real
    foreign keys), is refused while a row still refers to the table; truncating the referencing
    tables in the same command goes through."""
    if get_engine(base).dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its foreign keys refuse the DELETE (tests above)")
    with get_engine(base).begin() as conn:
        _assign(conn, 1, 1, 1, 2)
    before = {name: _count(base, name) for name in ("assignment", "person", table)}
    _refused(base, lambda conn: conn.execute(text(f"TRUNCATE {table} CASCADE")))
    assert {name: _count(base, name) for name in before} == before  # nothing emptied
    with get_engine(base).begin() as conn:
        conn.execute(text("TRUNCATE person, assignment CASCADE"))  # together: nothing is left dangling
        conn.execute(text(f"TRUNCATE {table} CASCADE"))  # nobody refers to it any more: it can go alone
    assert (_count(base), _count(base, "person"), _count(base, table)) == (0, 0, 0)


def test_trigger_checked_references_are_the_migrations() -> None:
    assert TRIGGER_CHECKED == {(table, column) for table, refs in MIGRATION.REFERENCES.items() for column, _ in refs}


@pytest.mark.parametrize(("institution", "unit"), [(99, 1), (1, 99)], ids=["institution", "unit"])
def test_a_person_refers_to_existing_rows(base: str, institution: int, unit: int) -> None:
    def add(conn: Connection) -> None:
        conn.execute(text("INSERT INTO person (id, institution_id, unit_id, \"group\", name, non_asn, status, flags, "
                          "source) VALUES (50, :i, :u, 'internal', 'X', false, 'eligible', '[]', 'import')"),
                     {"i": institution, "u": unit})

    _refused(base, add)
    _refused(base, lambda conn: conn.execute(text("UPDATE person SET unit_id = 99 WHERE id = 1")))
    _refused(base, lambda conn: conn.execute(text("DELETE FROM unit WHERE id = 1")))  # people work there
    assert _count(base, "person") == PEOPLE


def _bulk_people(session: Session, count: int) -> list[int]:
    writer = BulkWriter(session, Person.__table__,  # type: ignore[attr-defined]
                        ("id", "institution_id", "unit_id", "group", "name", "status", "flags", "non_asn", "source"))
    flags, false = writer.value("flags", []), writer.value("non_asn", False)
    ids = list(range(1000, 1000 + count))
    with writer:
        for pid in ids:
            writer.append((pid, 1, 1, "internal", f"P{pid}", "eligible", flags, false, "bench"))
    return ids


def _picks(ids: list[int]) -> list[tuple[Any, ...]]:
    return [(pid, 1, "internal", "sampled", None) for pid in ids]


def _share_locked(session: Session) -> set[str]:
    """Tables this transaction holds in SHARE mode (PostgreSQL)."""
    return set(session.execute(text(
        "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE l.pid = pg_backend_pid() AND l.mode = 'ShareLock'")).scalars())


def test_a_bulk_write_is_checked_whole(base: str) -> None:
    """A draw-sized write (one COPY on PostgreSQL, past BULK_IDS rows): one missing person refuses
    all of it; a correct one goes in (PostgreSQL: checked once, under SHARE locks)."""
    postgres = get_engine(base).dialect.name == "postgresql"
    with Session(get_engine(base)) as session:
        ids = _bulk_people(session, BULK_IDS)
        session.commit()
    with pytest.raises(REFUSED), Session(get_engine(base)) as session:
        with assignment_writer(session) as writer:
            write_assignments(writer, 1, _picks([*ids[:-1], 999_999]), utcnow())
        session.commit()
    assert _count(base) == 0
    with Session(get_engine(base)) as session:
        with assignment_writer(session) as writer:
            write_assignments(writer, 1, _picks(ids), utcnow())
        if postgres:
            assert _share_locked(session) == {"person"}  # one campaign and one unit: row locks
        session.commit()
    assert _count(base) == BULK_IDS


# --- PostgreSQL: a delete racing an insert (SQLite has one writer at a time) -------------------------


def _in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _waiting(url: str) -> bool:
    with get_engine(url).connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND datname = current_database()")).scalar())


def _until_waiting(url: str, thread: threading.Thread) -> None:
    import time

    deadline = time.monotonic() + 10
    while not _waiting(url):
        assert thread.is_alive() and time.monotonic() < deadline, "the second transaction never waited"
        time.sleep(0.02)


def _postgres_only(url: str) -> None:
    if get_engine(url).dialect.name != "postgresql":
        pytest.skip("PostgreSQL: concurrent writers")


@pytest.mark.parametrize("isolation", ["READ COMMITTED", "REPEATABLE READ"])
def test_a_delete_waits_for_an_uncommitted_assignment_then_fails(base: str, isolation: str) -> None:
    """Under READ COMMITTED the guard sees the assignment committed while the delete waited: a
    foreign key violation. Under REPEATABLE READ its snapshot predates it, so it cannot see it
    (migration 0003 let that delete through); migration 0004 refuses the delete instead."""
    _postgres_only(base)
    engine = get_engine(base)
    with engine.connect() as inserter:
        _assign(inserter, 1, 1)  # uncommitted; person 1 locked as a foreign key check locks it

        def delete() -> None:
            with engine.connect() as conn:
                conn.execute(text(f"BEGIN ISOLATION LEVEL {isolation}"))
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(text("DELETE FROM person WHERE id = 1"))
                conn.commit()

        thread, errors = _in_thread(delete)
        _until_waiting(base, thread)
        inserter.commit()
        thread.join(15)
    assert len(errors) == 1, errors
    if isolation == "READ COMMITTED":
        assert isinstance(errors[0], IntegrityError), errors
    else:
        assert "refused under REPEATABLE READ isolation" in str(errors[0]), errors
    assert _count(base) == 1 and _count(base, "person") == PEOPLE


@pytest.mark.parametrize("statement", ["DELETE FROM person WHERE id = 3", "UPDATE person SET id = 30 WHERE id = 3",
                                       "TRUNCATE assignment, person CASCADE"])
def test_above_read_committed_a_referenced_row_is_changed_only_with_nothing_to_check(base: str,
                                                                                       statement: str) -> None:
    """Migration 0004: person 3 has no assignment, yet under REPEATABLE READ or SERIALIZABLE its
    delete is refused (the guard cannot see rows committed since the snapshot); a delete of
    nothing, and the same change under READ COMMITTED, go through."""
    _postgres_only(base)
    engine = get_engine(base)
    for level in ("REPEATABLE READ", "SERIALIZABLE"):
        with pytest.raises(Exception, match="READ COMMITTED") as caught, engine.connect() as conn:
            conn.execute(text(f"BEGIN ISOLATION LEVEL {level}"))
            conn.execute(text(statement))
        assert getattr(caught.value, "orig", caught.value).sqlstate == "0A000"  # feature_not_supported
        with engine.connect() as conn:
            conn.execute(text(f"BEGIN ISOLATION LEVEL {level}"))
            assert conn.execute(text("DELETE FROM person WHERE id = 99")).rowcount == 0
            conn.commit()
    assert _count(base, "person") == PEOPLE
    with engine.begin() as conn:
        conn.execute(text(statement))
    assert _count(base, "person") == (0 if statement.startswith("TRUNCATE") else PEOPLE - 1 if
                                      statement.startswith("DELETE") else PEOPLE)


@pytest.mark.parametrize("size", ["one row", "bulk"])
def test_an_insert_waits_for_an_uncommitted_delete_then_fails(base: str, size: str) -> None:
    _postgres_only(base)
    engine = get_engine(base)
    if size == "bulk":
        with Session(engine) as session:
            _bulk_people(session, BULK_IDS)
            session.commit()
    with engine.connect() as deleter:
        deleter.execute(text("DELETE FROM person WHERE id = 1"))  # uncommitted

        def insert() -> None:
            with Session(engine) as session:
                session.execute(text("SET LOCAL lock_timeout = '10s'"))
                if size == "bulk":
                    with assignment_writer(session) as writer:
                        write_assignments(writer, 1, _picks([1, *range(1000, 1000 + BULK_IDS)]), utcnow())
                else:
                    _assign(session.connection(), 1, 1)
                session.commit()

        thread, errors = _in_thread(insert)
        _until_waiting(base, thread)
        deleter.commit()
        thread.join(15)
    assert len(errors) == 1 and isinstance(errors[0], REFUSED), errors
    assert _count(base) == 0


def _foreign_keys(url: str) -> set[tuple[str, str]]:
    """(table, column) of every single-column foreign key of assignment and person."""
    keys: set[tuple[str, str]] = set()
    with get_engine(url).connect() as conn:
        for table in ("assignment", "person"):
            if conn.dialect.name == "sqlite":
                keys |= {(table, row[3]) for row in conn.execute(text(f"PRAGMA foreign_key_list({table})"))}
                continue
            keys |= {(table, column) for column in conn.execute(text(
                "SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                "AND a.attnum = c.conkey[1] WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'f'"),
                {"t": table}).scalars()}
    return keys


def test_migration_0003_round_trip(empty_url: str) -> None:
    """PostgreSQL: 0003 swaps the foreign keys for the triggers and back; SQLite keeps its keys."""
    postgres = get_engine(empty_url).dialect.name == "postgresql"
    every = set(TRIGGER_CHECKED)
    migrate(empty_url, "head")
    assert _foreign_keys(empty_url) == (set() if postgres else every)
    migrate(empty_url, "0002", down=True)
    assert _foreign_keys(empty_url) == every
    if postgres:
        with get_engine(empty_url).connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname LIKE '%reference%'")).scalar() == 0
        migrate(empty_url, "0004")
        migrate(empty_url, "0003", down=True)  # 0004 undone: 0003's guard again, no TRUNCATE triggers
        with get_engine(empty_url).connect() as conn:
            guard = conn.execute(text("SELECT prosrc FROM pg_proc WHERE proname = 'referenced_rows_kept'")).scalar_one()
            assert "transaction_isolation" not in guard
            assert conn.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%_kept_on_truncate'")
            ).scalar() == 0
    migrate(empty_url, "head")
    assert _foreign_keys(empty_url) == (set() if postgres else every)
