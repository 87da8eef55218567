"""Bulk appends of plain tuples inside the session's transaction (imports and sample draws).

PostgreSQL gets `COPY ... FROM STDIN` (psycopg `write_row`; text format, or binary), SQLite one
`executemany` of tuples.
Both go through the session's own DBAPI connection, so they belong to the current transaction
(and SAVEPOINT): a failure later rolls them back with everything else.

Values are converted the way SQLAlchemy would bind them for the backend (its bind processors,
looked up once per column), so rows written here read back exactly like ORM-written rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any

from sqlalchemy import JSON, Table
from sqlmodel import Session

Processor = Callable[[Any], Any] | None
SQLITE_CHUNK = 10_000
TEXT_OID = 25  # PostgreSQL's text type


SQLITE_BULK_CACHE_KIB = 131_072  # page cache while writing in bulk (SQLite's default is 2 MiB)


@contextmanager
def bulk_mode(session: Session) -> Iterator[None]:
    """A larger SQLite page cache for the duration of a bulk write, then the previous size.

    Inserting hundreds of thousands of rows into a table with several indexes touches index
    pages all over the file; with the default 2 MiB cache SQLite keeps re-reading them."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    previous = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
    try:
        yield
    finally:
        session.connection().exec_driver_sql(f"PRAGMA cache_size = {previous}")


class BulkWriter:
    """Append rows (tuples in `columns` order) to `table`.

    `binary=True`: on PostgreSQL the COPY is in binary format, rows holding Python values (an
    aware datetime, a date, bytes...; JSON columns their `value`/`converter` text), each column
    sent as its own type. The server then parses nothing and psycopg's C dumpers build the rows:
    a national draw's 330,240 assignments cost the server 2.70 s instead of 2.93 s of CPU; a
    1M-row CSV import took 12-18% less time (docs/benchmarks.md, issue 3, seventh follow-up)."""

    def __init__(self, session: Session, table: Table, columns: Sequence[str], *, binary: bool = False) -> None:
        self.session, self.table, self.columns = session, table, tuple(columns)
        self.dialect = session.get_bind().dialect
        self.postgres = self.dialect.name == "postgresql"
        self.binary = binary and self.postgres
        names = ", ".join(f'"{c}"' for c in self.columns)
        if self.postgres:
            self.sql = f'COPY "{table.name}" ({names}) FROM STDIN' + (" (FORMAT BINARY)" if self.binary else "")
        else:
            marks = ", ".join("?" for _ in self.columns)
            # Names come from the table definition, never from input.
            self.sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'  # noqa: S608
        # Per column: how a Python value becomes the value the driver receives.
        self.processors: list[Processor] = [self._processor(c) for c in self.columns]
        self._pending: list[tuple[Any, ...]] = []
        self._copy_cm: Any = None
        self._copy: Any = None
        self._cursor: Any = None
        self._types: list[int] | None = None

    def _processor(self, column: str) -> Processor:
        col_type = self.table.c[column].type
        if isinstance(col_type, JSON):
            return json.dumps  # JSON travels as text on both backends
        if self.postgres:
            return None  # psycopg adapts dates, aware datetimes and booleans itself
        return col_type._cached_bind_processor(self.dialect)

    def value(self, column: str, python_value: Any) -> Any:
        """The driver value of a constant: convert once, reuse in every row."""
        proc = self.processors[self.columns.index(column)]
        return proc(python_value) if proc is not None and python_value is not None else python_value

    def converter(self, column: str) -> Callable[[Any], Any]:
        """The per-row conversion of one column (identity when the driver adapts it)."""
        proc = self.processors[self.columns.index(column)]
        if proc is None:
            return _identity
        return lambda v: None if v is None else proc(v)

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Append already-converted rows (see `value` / `converter`) at once: on SQLite one
        `executemany` of the whole list, on PostgreSQL one COPY."""
        if not self.postgres:
            self.flush()
            self._executemany(rows)
            return
        with self:
            for row in rows:
                self.append(row)

    # Streaming: `append` row by row inside `with writer:`; on PostgreSQL one COPY stays open, so
    # the server stores rows while the caller prepares the next ones. Call `flush()` before
    # running any other statement on the session (the connection is busy during a COPY).

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._finish(exc_type, exc, tb)

    def append(self, row: tuple[Any, ...]) -> None:
        if self.postgres:
            if self._copy is None:
                self._open_copy()
            self._copy.write_row(row)
        else:
            self._pending.append(row)
            if len(self._pending) >= SQLITE_CHUNK:
                self.flush()

    def flush(self) -> None:
        """Send everything appended so far (ends the COPY; the next append opens another)."""
        self._finish(None, None, None)

    def _open_copy(self) -> None:
        dbapi = self.session.connection().connection.dbapi_connection
        assert dbapi is not None
        if self.binary and self._types is None:  # binary rows name no types: the columns' own, once
            with closing(dbapi.cursor()) as cursor:  # the DB-API protocol has no __enter__
                found = dict(cursor.execute("SELECT attname, atttypid FROM pg_attribute "
                                            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                                            (f'"{self.table.name}"',)).fetchall())
            # JSON columns travel as their text (already `json.dumps`ed): binary text is the UTF-8
            # bytes, which is what the json type's binary input reads.
            self._types = [TEXT_OID if isinstance(self.table.c[c].type, JSON) else found[c] for c in self.columns]
        self._cursor = dbapi.cursor()
        self._copy_cm = self._cursor.copy(self.sql)
        self._copy = self._copy_cm.__enter__()
        if self._types is not None:
            self._copy.set_types(self._types)

    def _finish(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._copy_cm is not None:
            cm, cursor = self._copy_cm, self._cursor
            self._copy_cm = self._copy = self._cursor = None
            try:
                cm.__exit__(exc_type, exc, tb)  # on an error: COPY is aborted, nothing kept
            finally:
                cursor.close()
        if self._pending:
            rows, self._pending = self._pending, []
            if exc_type is None:
                self._executemany(rows)

    def _executemany(self, rows: Sequence[tuple[Any, ...]]) -> None:
        dbapi = self.session.connection().connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            cursor.executemany(self.sql, rows)
        finally:
            cursor.close()


def _identity(value: Any) -> Any:
    return value
