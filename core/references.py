"""Foreign keys the models declare that PostgreSQL enforces with triggers instead.

assignment's references to campaign, person and unit are foreign keys on SQLite and in the
models (the ORM joins by them). On PostgreSQL migration 0003 replaced them with triggers that
check a whole statement's rows at once (a national draw writes ~330,000 assignments in one COPY;
per-row foreign key checks were half its server time). Schema comparisons (autogenerate and the
models-vs-migrations test) skip exactly these constraints on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TRIGGER_CHECKED = frozenset({("assignment", "campaign_id"), ("assignment", "person_id"), ("assignment", "unit_id")})


def include_object(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` hook for a database of `dialect`."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if dialect != "postgresql" or type_ != "foreign_key_constraint":
            return True
        columns = tuple(obj.column_keys)
        return not (len(columns) == 1 and (obj.table.name, columns[0]) in TRIGGER_CHECKED)

    return include
