"""PostgreSQL: TRUNCATE of a referenced table refused while rows still refer to it

Migration 0003 replaced five foreign keys with triggers (core.references) but left TRUNCATE
unguarded: `TRUNCATE person` succeeded and left every assignment pointing at nobody, where the
foreign key had refused it. Now an AFTER TRUNCATE trigger on each referenced table refuses the
command (SQLSTATE 23503, foreign_key_violation, as 0003's other checks) while a referencing row
is left. After TRUNCATE triggers fire once every table of the command is emptied, so truncating
both tables in one command (`TRUNCATE person, assignment`) goes through, as with a foreign key.
Unlike a foreign key, truncating a referenced table whose referencing table is already empty is
allowed too (nothing can dangle), and CASCADE does not follow these references.

SQLite has no TRUNCATE (its foreign keys guard DELETE) and is not touched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 07:30:00
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# (referencing table, column, referenced table): migration 0003's references (core.references)
REFERENCES = (
    ("assignment", "campaign_id", "campaign"), ("assignment", "person_id", "person"),
    ("assignment", "unit_id", "unit"), ("person", "institution_id", "institution"), ("person", "unit_id", "unit"),
)

# On the referenced table, with TG_ARGV: referencing table, column. The referenced table is
# empty when it fires, so any non-null reference left dangles. reference_in_use: migration 0003.
_GUARD = """
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
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_GUARD)
    for table, column, target in REFERENCES:
        op.execute(f"CREATE TRIGGER {table}_{column}_kept_on_truncate AFTER TRUNCATE ON {target} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION referenced_rows_kept_on_truncate('{table}', '{column}')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, target in REFERENCES:
        op.execute(f"DROP TRIGGER {table}_{column}_kept_on_truncate ON {target}")
    op.execute("DROP FUNCTION referenced_rows_kept_on_truncate()")
