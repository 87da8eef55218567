"""The writing half of a sample draw: assignments with fresh link tokens, in bulk.

Assignments go in as one `executemany` of plain tuples (SQLite) or one binary COPY (PostgreSQL),
with tokens from `core.tokens.token_pairs` (the bulk form of `core.tokens.token_for`). Who is
sampled is decided read-only in `population.selection`.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.models import Assignment, AssignmentKind
from core.tokens import token_pairs
from population.bulk import BulkWriter
from population.selection import Pick

ASSIGNMENT_COLUMNS = ("campaign_id", "person_id", "unit_id", "group", "kind", "active",
                      "reserve_rank", "counter", "token_nonce", "token_hash", "created_at")


def dbapi(session: Session) -> tuple[Any, bool]:
    """The session's DBAPI connection, inside its transaction, and whether it is PostgreSQL.
    Pending ORM changes are not flushed (the caller flushes when it needs them)."""
    conn = session.connection()
    raw = conn.connection.dbapi_connection
    assert raw is not None
    return raw, conn.dialect.name == "postgresql"


def assignment_writer(session: Session) -> BulkWriter:
    """The writer `write_assignments` appends to; use it as `with writer:` and `flush()` before
    running another statement on the session (PostgreSQL keeps one COPY open across calls)."""
    return BulkWriter(session, Assignment.__table__, ASSIGNMENT_COLUMNS, binary=True)  # type: ignore[attr-defined]


def write_assignments(writer: BulkWriter, campaign_id: int, picks: list[Pick], created_at: Any) -> None:
    """Append the picks as active assignments (reserves inactive) with fresh tokens: one
    `executemany` of prepared tuples on SQLite, rows into the writer's open binary COPY on
    PostgreSQL (sent now, stored by the server while the caller goes on)."""
    if not picks:
        return
    reserve = AssignmentKind.reserve.value
    tokens = token_pairs(len(picks))
    if writer.postgres:  # binary COPY (`assignment_writer`): Python values as they are
        for (pid, unit_id, group, kind, rank), (nonce, token_hash) in zip(picks, tokens, strict=True):
            writer.append((campaign_id, pid, unit_id, group, kind, kind != reserve, rank, None, nonce, token_hash,
                           created_at))
        return
    now = writer.value("created_at", created_at)
    active, inactive = writer.value("active", True), writer.value("active", False)
    writer.write([
        (campaign_id, pid, unit_id, group, kind, inactive if kind == reserve else active,
         rank, None, nonce, token_hash, now)
        for (pid, unit_id, group, kind, rank), (nonce, token_hash) in zip(picks, tokens, strict=True)
    ])
