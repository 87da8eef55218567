"""Database engine and sessions: SQLite (WAL, busy_timeout, BEGIN IMMEDIATE for writes) or
PostgreSQL through DATABASE_URL.

Write transactions on SQLite use `BEGIN IMMEDIATE` so two writers never deadlock on a lock
upgrade; readers stay deferred and, in WAL mode, never block writers.

Engines are made with `hide_parameters=True`: an error's message (and so a logged traceback)
shows the SQL but never its bound values, which are names, numbers, emails and answers.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Session, create_engine

from core.config import get_settings

_engines: dict[str, Engine] = {}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalize_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
            # For reader_snapshot: whether this transaction holds the write lock, and the
            # connection's change counter when it began (rows it has written since = the difference).
            conn.info["sqlite_begin"] = (immediate, conn.connection.dbapi_connection.total_changes)

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


def get_engine(url: str | None = None) -> Engine:
    url = normalize_url(url or get_settings().database_url)
    if url not in _engines:
        _engines[url] = _make_engine(url)
    return _engines[url]


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "sqlite"


def insert_for(session_or_bind: OrmSession | Engine | Connection,
               table: Any) -> postgresql.Insert | sqlite.Insert:
    """`INSERT INTO table` in the bind's own dialect, the construct that has
    `on_conflict_do_nothing()` and `on_conflict_do_update()`: PostgreSQL's on PostgreSQL, SQLite's
    otherwise. `table`: a Table, or a mapped class (then executed as an ORM-enabled insert)."""
    bind = session_or_bind
    if isinstance(bind, OrmSession):
        bind = bind.get_bind()
    return (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(table)


@contextmanager
def session_scope(*, write: bool = False, url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    `write=True` takes SQLite's write lock up front (BEGIN IMMEDIATE); on PostgreSQL it is a no-op.
    """
    engine = get_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        if write and engine.dialect.name == "sqlite":
            session.connection(execution_options={"sqlite_immediate": True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


_sqlite_writes = threading.Lock()  # the one lock of this process's SQLite writers


def write_lock(url: str | None = None) -> AbstractContextManager[Any]:
    """On SQLite, threads of this process queue on one Python lock before writing rather than in
    SQLite's busy handler, whose growing sleeps (up to 100 ms each) wreck latency under a burst
    (webhooks, registrations, answers). Nothing to hold on PostgreSQL."""
    return _sqlite_writes if get_engine(url).dialect.name == "sqlite" else nullcontext()


@contextmanager
def write_scope(url: str | None = None) -> Iterator[Session]:
    """A short write transaction for the public forms (registrations, answers).

    On SQLite, writers queue before BEGIN IMMEDIATE: threads of this process on a lock, web
    processes on an flock of a file next to the database. Otherwise each would poll SQLite's
    busy handler, which sleeps up to 100 ms between tries: a few milliseconds of waiting became
    seconds of tail latency with two web workers."""
    engine = get_engine(url)
    if engine.dialect.name != "sqlite":
        with session_scope(write=True, url=url) as session:
            yield session
        return
    with write_lock(url), _process_lock(engine.url.database), \
            session_scope(write=True, url=url) as session:
        yield session


_lock_fds: dict[tuple[int, str], int] = {}


@contextmanager
def _process_lock(database: str | None) -> Iterator[None]:
    """An exclusive flock shared by this host's web processes for one SQLite file."""
    if not database or database == ":memory:":
        yield
        return
    key = (os.getpid(), database)  # a forked child opens its own (flock is per open file)
    fd = _lock_fds.get(key)
    if fd is None:
        fd = _lock_fds[key] = os.open(f"{database}.write.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def get_session() -> Iterator[Session]:
    """FastAPI dependency."""
    with session_scope() as session:
        yield session


def reader_snapshot(session: Session) -> str | None:
    """How another connection (another process) can read exactly what this session's transaction
    sees, or None when it cannot: the transaction has written rows of its own, which no other
    connection sees before the commit (pending ORM changes are flushed first to find out).

    PostgreSQL: a snapshot id to import (`SET TRANSACTION SNAPSHOT`, REPEATABLE READ), valid while
    this transaction is open. SQLite: "" when the transaction holds the write lock (BEGIN
    IMMEDIATE: `session_scope(write=True)`), so nobody else can commit until it does and any reader
    sees the last commit, which is this transaction's view; None without the lock."""
    session.flush()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        if conn.execute(text("SELECT pg_current_xact_id_if_assigned()")).scalar() is not None:
            return None
        return str(conn.execute(text("SELECT pg_export_snapshot()")).scalar())
    immediate, changes = conn.info.get("sqlite_begin", (False, -1))
    raw = conn.connection.dbapi_connection
    assert raw is not None
    return "" if immediate and raw.total_changes == changes else None


def analyze_if_stale(session: Session, table: str, share: float = 0.2) -> bool:
    """PostgreSQL: ANALYZE `table` when more than `share` of its rows changed since its statistics
    were taken (a freshly sampled campaign, before autovacuum got to it). Without this the planner
    believes the table is nearly empty and pages through it by re-reading it whole. SQLite: no-op.
    Returns whether it analyzed."""
    if is_sqlite(session):
        return False
    row = session.execute(
        text("SELECT n_mod_since_analyze, n_live_tup, last_analyze IS NULL AND last_autoanalyze IS NULL "
             "FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}).first()
    if row is None:
        return False
    modified, live, never = row
    if modified < 1000 or not (never or modified > share * max(live, 1)):
        return False
    session.execute(text(f'ANALYZE "{table}"'))
    return True


def preassign_ids(session: Session, objects: Iterable[Any]) -> None:
    """PostgreSQL: give new ORM rows (integer `id` primary key, still None) their ids from their
    tables' sequences, one query per table. The next flush then inserts them with a plain
    `executemany` (pipelined by psycopg) instead of one INSERT ... RETURNING over many rows,
    whose long query text psycopg parses at length: a national draw's 1,280 SampleDraw and
    audit rows flushed in 0.30-0.35 s, 0.12-0.16 s with their ids given. SQLite: no-op."""
    if is_sqlite(session):
        return
    by_table: dict[str, list[Any]] = {}
    for obj in objects:
        if getattr(obj, "id", 0) is None:
            by_table.setdefault(obj.__table__.name, []).append(obj)
    for table, rows in by_table.items():
        ids = session.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                              {"t": table, "n": len(rows)}).scalars().all()
        for obj, new_id in zip(rows, ids, strict=True):
            obj.id = new_id
