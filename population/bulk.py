"""Bulk appends of plain tuples inside the session's transaction (imports and sample draws).

PostgreSQL gets `COPY ... FROM STDIN` (psycopg `write_row`), SQLite one `executemany` of tuples.
Both go through the session's own DBAPI connection, so they belong to the current transaction
(and SAVEPOINT): a failure later rolls them back with everything else.

Values are converted the way SQLAlchemy would bind them for the backend (its bind processors,
looked up once per column), so rows written here read back exactly like ORM-written rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import JSON, Table
from sqlmodel import Session

Processor = Callable[[Any], Any] | None


class BulkWriter:
    """Append rows (tuples in `columns` order) to `table`."""

    def __init__(self, session: Session, table: Table, columns: Sequence[str]) -> None:
        self.session, self.table, self.columns = session, table, tuple(columns)
        self.dialect = session.get_bind().dialect
        self.postgres = self.dialect.name == "postgresql"
        names = ", ".join(f'"{c}"' for c in self.columns)
        if self.postgres:
            self.sql = f'COPY "{table.name}" ({names}) FROM STDIN'
        else:
            marks = ", ".join("?" for _ in self.columns)
            # Names come from the table definition, never from input.
            self.sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'  # noqa: S608
        # Per column: how a Python value becomes the value the driver receives.
        self.processors: list[Processor] = [self._processor(c) for c in self.columns]

    def _processor(self, column: str) -> Processor:
        col_type = self.table.c[column].type
        if isinstance(col_type, JSON):
            return json.dumps  # JSON travels as text on both backends
        if self.postgres:
            return None  # psycopg adapts dates, aware datetimes and booleans itself
        return col_type._cached_bind_processor(self.dialect)  # type: ignore[no-any-return]

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
        """Append already-converted rows (see `value` / `converter`)."""
        if not rows:
            return
        dbapi = self.session.connection().connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            if self.postgres:
                with cursor.copy(self.sql) as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.sql, rows)
        finally:
            cursor.close()


def _identity(value: Any) -> Any:
    return value
