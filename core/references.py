"""Foreign keys the models declare that PostgreSQL enforces with triggers instead.

The references of the two tables written in bulk (assignment: a national draw writes ~330,000
in one COPY; person: an import up to a million) are foreign keys on SQLite and in the models
(the ORM joins by them). On PostgreSQL migration 0003 replaced them with triggers that check a
whole statement's rows at once: per-row foreign key checks were half a draw's server time and a
third of an import's. Migration 0004 closed their two gaps: TRUNCATE of a referenced table
while rows still refer to it is refused, and so is a delete or id change of a referenced row
under isolation levels above READ COMMITTED (the guard cannot see rows committed since the
snapshot). Schema comparisons (autogenerate and the models-vs-migrations test) skip
exactly these constraints on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (table, column) whose reference PostgreSQL checks per statement (migration 0003's REFERENCES)
TRIGGER_CHECKED = frozenset({
    ("assignment", "campaign_id"), ("assignment", "person_id"), ("assignment", "unit_id"),
    ("person", "institution_id"), ("person", "unit_id"),
})


def include_object(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` hook for a database of `dialect`."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if dialect != "postgresql" or type_ != "foreign_key_constraint":
            return True
        columns = tuple(obj.column_keys)
        return not (len(columns) == 1 and (obj.table.name, columns[0]) in TRIGGER_CHECKED)

    return include
