"""PostgreSQL: the two gaps migration 0003's reference triggers left, closed

Migration 0003 replaced five foreign keys with triggers (core.references). Two things the
foreign keys refused went through:

- TRUNCATE of a referenced table: `TRUNCATE person` emptied it and left every assignment
  pointing at nobody. Now an AFTER TRUNCATE trigger on each referenced table refuses the command
  (SQLSTATE 23503, foreign_key_violation, as 0003's other checks) while a referencing row is
  left. After TRUNCATE triggers fire once every table of the command is emptied, so truncating
  both in one command (`TRUNCATE person, assignment`) goes through, as with a foreign key.
  Unlike a foreign key, truncating a referenced table whose referencing table is already empty
  is allowed too (nothing can dangle), and CASCADE does not follow these references.
- A delete (or TRUNCATE, or id change) of a referenced row under REPEATABLE READ or
  SERIALIZABLE: the guard looks for referencing rows with the transaction's snapshot, so a
  referencing row committed meanwhile by another transaction (which waited on the row's lock)
  was not seen and the delete went through. A foreign key checks such rows with a fresh
  snapshot, which a trigger cannot take; the guards now refuse the change under those levels
  unless they find a referencing row (SQLSTATE 0A000, feature_not_supported, with a hint to
  run it under READ COMMITTED, PostgreSQL's default and the one spibot uses). A delete that
  matches no row is not refused.

SQLite has no TRUNCATE, keeps its foreign keys and is not touched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 07:30:00
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _migration_0003() -> ModuleType:
    """Migration 0003's module (loaded by path: alembic does not import migrations as a package)."""
    path = Path(__file__).with_name("0003_references_checked_per_statement.py")
    spec = importlib.util.spec_from_file_location("spibot_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# (referencing table, column, referenced table): migration 0003's references (core.references)
REFERENCES = (
    ("assignment", "campaign_id", "campaign"), ("assignment", "person_id", "person"),
    ("assignment", "unit_id", "unit"), ("person", "institution_id", "institution"), ("person", "unit_id", "unit"),
)

_STALE = """
CREATE FUNCTION reference_check_needs_read_committed(op text, tab text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on table "%" refused under % isolation: run it under READ COMMITTED', op, tab,
    upper(current_setting('transaction_isolation'))
    USING ERRCODE = 'feature_not_supported', TABLE = tab,
          HINT = 'Rows that refer to it may have been committed since this transaction''s snapshot, which the '
                 'reference check cannot see; READ COMMITTED is PostgreSQL''s default.';
END $$;
"""

# 0003's delete and id-change guard, refusing under isolation levels above READ COMMITTED
# unless it found a referencing row. 0003's text with that check added before its RETURN.
_RETURN = "  IF TG_OP = 'DELETE' THEN\n    RETURN NULL;"
_STALE_CHECK = """  IF current_setting('transaction_isolation') <> 'read committed' THEN
    IF TG_OP <> 'DELETE' THEN  -- an id change (old_rows exists only in the delete trigger)
      PERFORM reference_check_needs_read_committed(TG_OP, TG_TABLE_NAME);
    ELSIF EXISTS (SELECT 1 FROM old_rows) THEN
      PERFORM reference_check_needs_read_committed(TG_OP, TG_TABLE_NAME);
    END IF;
  END IF;
"""


def _guards() -> tuple[str, str]:
    """(0004's referenced_rows_kept, 0003's), as CREATE OR REPLACE FUNCTION statements."""
    previous = _migration_0003()._GUARD.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    assert previous.count(_RETURN) == 1, "migration 0003's guard changed"
    return previous.replace(_RETURN, _STALE_CHECK + _RETURN), previous


# On the referenced table, with TG_ARGV: referencing table, column. The referenced table is
# empty when it fires, so any non-null reference left dangles. reference_in_use: migration 0003.
_TRUNCATE_GUARD = """
CREATE FUNCTION referenced_rows_kept_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  used boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I IS NOT NULL)', TG_ARGV[0], TG_ARGV[1]) INTO used;
  IF used THEN
    PERFORM reference_in_use(TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1], format(
      '%s.%s still refers to rows of %s: truncate %s in the same command.',
      TG_ARGV[0], TG_ARGV[1], TG_TABLE_NAME, TG_ARGV[0]));
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    PERFORM reference_check_needs_read_committed(TG_OP, TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in (_STALE, _guards()[0], _TRUNCATE_GUARD):
        op.execute(sql)
    for table, column, target in REFERENCES:
        op.execute(f"CREATE TRIGGER {table}_{column}_kept_on_truncate AFTER TRUNCATE ON {target} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION referenced_rows_kept_on_truncate('{table}', '{column}')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, target in REFERENCES:
        op.execute(f"DROP TRIGGER {table}_{column}_kept_on_truncate ON {target}")
    op.execute("DROP FUNCTION referenced_rows_kept_on_truncate()")
    op.execute(_guards()[1])
    op.execute("DROP FUNCTION reference_check_needs_read_committed(text, text)")
