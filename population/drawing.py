"""The fast parts of a sample draw: loading the sampling frame, picking, writing assignments.

The frame is read with one ordered query per draw, straight from the DBAPI cursor (no ORM
objects): eligible people not yet assigned in the campaign, sorted by (draw group, unit code,
name, phone, email) in byte order on both backends (SQLite's BINARY collation, PostgreSQL's
"C"), so the order depends only on the data, never on database ids or the server's locale.
Assignments go in as one `executemany` of plain tuples (SQLite) or one COPY of preformatted text
(PostgreSQL), with tokens derived exactly as `core.tokens.token_for` derives them.
"""

from __future__ import annotations

import binascii
import hashlib
import math
import os
import random
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlmodel import Session

from core.config import get_settings
from core.models import Assignment, AssignmentKind
from population.bulk import BulkWriter

ASSIGNMENT_COLUMNS = ("campaign_id", "person_id", "unit_id", "group", "kind", "active",
                      "reserve_rank", "counter", "token_nonce", "token_hash", "created_at")

# Draw group first (internal, then external with vendors), then content. Experts are chosen
# by criterion, not drawn: sampling.py reads them apart. The unit join names the institution
# (a person's unit is always one of its institution's units): without it PostgreSQL's planner
# hashed the whole unit table for every draw (12,800 units: 11 ms instead of 4 ms a draw).
_FRAME_SQL = """
SELECT p.id, p.unit_id, p."group", COALESCE(u.code, '-') {c}, p.name {c},
       COALESCE(p.phone, '') {c}, COALESCE(p.email, '') {c}
FROM person p LEFT JOIN unit u ON u.id = p.unit_id AND u.institution_id = p.institution_id
WHERE p.institution_id = {ph} AND p.status = 'eligible' AND p."group" <> 'expert'
ORDER BY CASE p."group" WHEN 'internal' THEN 0 ELSE 1 END, 4, 5, 6, 7, p.id
"""


@dataclass
class Frame:
    """The non-expert frame of one draw group, in frame order: the query's rows as fetched,
    (id, unit id, group, unit code, name, phone, email)."""

    rows: Sequence[tuple[Any, ...]] = ()
    units: list[tuple[str, int, int]] = field(default_factory=list)  # (code, start, stop)
    vendors: int = 0

    @property
    def size(self) -> int:
        return len(self.rows)


_GROUP, _CODE = itemgetter(2), itemgetter(3)
_LINE = itemgetter(slice(2, 7))  # group, unit code, name, phone, email


def fetch_rows(session: Session, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows of a plain query (written with "?" placeholders) straight from the session's DBAPI
    connection, inside its transaction: no ORM statement compilation or objects. Pending ORM
    changes are not flushed first (the caller flushes when it needs them)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def load_frames(session: Session, institution_id: int, taken: set[int]) -> tuple[dict[str, Frame], bytes]:
    """The internal and external frames (without the people in `taken`, already assigned in
    the campaign), and the frame's text for the population hash: one line per person,
    "group|unit code|name|phone|email".

    The fetched rows are kept as they are (no per-column copies): the hash text is joined at C
    level, and since the rows come sorted by (draw group, unit code, ...) the group split and
    the unit runs are found by bisection, so the only per-row Python work is the fetch."""
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    sql = _FRAME_SQL.format(c='COLLATE "C"' if postgres else "", ph="%s" if postgres else "?")
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, (institution_id,))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if taken:  # people registered at a counter (participatory) before the draw
        rows = [row for row in rows if row[0] not in taken]
    if not rows:
        return {"internal": Frame(), "external": Frame()}, b""
    text = "\n".join(map("|".join, map(_LINE, rows))).encode()
    # The query lists internal first: the split is where "not internal" turns true.
    split = bisect_right(rows, False, key=lambda row: row[2] != "internal")
    frames = {}
    for name, start, stop in (("internal", 0, split), ("external", split, len(rows))):
        part = rows[start:stop]
        units, at = [], 0
        while at < len(part):  # codes are sorted within a group: one bisection per unit
            code = part[at][3]
            end = bisect_right(part, code, at, key=_CODE)
            units.append((code, at, end))
            at = end
        frames[name] = Frame(part, units, list(map(_GROUP, part)).count("vendor"))
    return frames, text


_SHA256_BLOCK = 64
Pick = tuple[int, int | None, str, str, int | None]  # person id, unit id, group, kind, reserve rank


def draw_frame(frame: Frame, group: str, shares: dict[str, int], seed: int,
               reserve_ratio: float) -> tuple[dict[str, Any], list[Pick]]:
    """Per unit, a simple random sample of the unit's share, then an ordered reserve list.

    `random.Random("seed:group:unit code").sample` over the unit's members in frame order: the
    same frame and seed always give the same people, whatever the database ids. The sampled
    people become picks (assignments); the reserves, in order, are listed in the unit's
    allocation ("reserve_ids": person ids, the first replaces the first unreachable person)
    and get an assignment only when one is called up (`sampling.call_reserve`)."""
    allocations: dict[str, Any] = {}
    picks: list[Pick] = []
    sampled = AssignmentKind.sampled.value
    rows = frame.rows
    for code, start, stop in frame.units:
        size = stop - start
        k = shares[code]
        reserves = min(size - k, math.ceil(k * reserve_ratio))
        chosen = random.Random(f"{seed}:{group}:{code}").sample(range(start, stop), k + reserves)  # noqa: S311 - auditable, not secret
        picks += [(rows[i][0], rows[i][1], rows[i][2], sampled, None) for i in chosen[:k]]
        allocations[code] = {"population": size, "sample": k, "reserve": reserves,
                             "reserve_ids": [rows[i][0] for i in chosen[k:]]}
    return allocations, picks


def token_pairs(count: int, secret_key: str | None = None) -> Iterator[tuple[str, bytes]]:
    """`count` (nonce, token hash) pairs, as `core.tokens.new_token_pair` makes them: the same
    nonce format and HMAC-SHA256 token, computed from precomputed HMAC pad states (RFC 2104),
    about twice as fast as one `hmac.digest` call each (tests compare with core.tokens)."""
    key = (secret_key or get_settings().secret_key).encode()
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    raw = os.urandom(16 * count).hex()
    b64, urlsafe, sha256 = binascii.b2a_base64, bytes.maketrans(b"+/", b"-_"), hashlib.sha256
    for i in range(0, 32 * count, 32):
        nonce = raw[i:i + 32]
        h = inner.copy()
        h.update(nonce.encode())
        o = outer.copy()
        o.update(h.digest())
        token = b64(o.digest(), newline=False).translate(urlsafe).rstrip(b"=")
        yield nonce, sha256(token).digest()


def write_assignments(session: Session, campaign_id: int, picks: list[Pick], created_at: Any) -> None:
    """Append the picks as active assignments (reserves inactive) with fresh tokens: one
    `executemany` of prepared tuples on SQLite, one COPY of preformatted text on PostgreSQL."""
    if not picks:
        return
    writer = BulkWriter(session, Assignment.__table__, ASSIGNMENT_COLUMNS)  # type: ignore[attr-defined]
    reserve = AssignmentKind.reserve.value
    tokens = token_pairs(len(picks))
    if writer.postgres:
        # COPY text format: every value here is an int, NULL or a plain ASCII word/hex string
        # (no tab, newline or backslash), so a row is its fields joined by tabs; the token hash
        # is bytea in hex input form, its backslash escaped for COPY ("\\x...").
        now, null = writer.copy_text(created_at), "\\N"
        lines = [
            f"{campaign_id}\t{pid}\t{null if unit_id is None else unit_id}\t{group}\t{kind}\t"
            f"{'f' if kind == reserve else 't'}\t{null if rank is None else rank}\t{null}\t{nonce}\t\\\\x{token_hash.hex()}\t{now}\n"
            for (pid, unit_id, group, kind, rank), (nonce, token_hash) in zip(picks, tokens, strict=True)
        ]
        writer.copy_lines(lines)
        return
    now = writer.value("created_at", created_at)
    active, inactive = writer.value("active", True), writer.value("active", False)
    writer.write([
        (campaign_id, pid, unit_id, group, kind, inactive if kind == reserve else active,
         rank, None, nonce, token_hash, now)
        for (pid, unit_id, group, kind, rank), (nonce, token_hash) in zip(picks, tokens, strict=True)
    ])
