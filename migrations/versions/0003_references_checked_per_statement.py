"""PostgreSQL: the references of the two bulk-written tables checked per statement, not per row

A national draw writes ~330,000 assignments in one COPY and an import up to a million people.
A foreign key makes PostgreSQL run one lookup per row and reference (locking the referenced
row): half the draw's server time and about a quarter of a CSV import's (paired runs: national
draw 15.4-26.1 -> 9.2-14.6 s; 1M-row CSV import 15,706-17,094 -> 17,757-21,517 rows/s; see
docs/benchmarks.md, issue 3, fifth follow-up). The same rules are now enforced by triggers
that see a statement's rows together (transition tables), and those foreign keys are gone from
PostgreSQL:

    assignment.campaign_id -> campaign, assignment.person_id -> person, assignment.unit_id -> unit,
    person.institution_id -> institution, person.unit_id -> unit          (core.references)

SQLite keeps its foreign keys (cheap there) and is not touched; the models still declare them.

What the triggers guarantee, as the foreign keys did (tests/core/test_references.py):
- insert: every referenced row exists. Per reference, the distinct ids of the statement are
  locked (FOR KEY SHARE, as a foreign key check locks them: a concurrent delete waits, a row
  deleted meanwhile is not found); from BULK_IDS distinct ids on, under READ COMMITTED, the
  referenced table is locked in SHARE mode instead (nobody changes it until this transaction
  ends) and the ids are counted in one pass.
- update of a referencing column: the new value exists (row lock).
- delete from a referenced table: refused while a row refers to a deleted one (checked after
  the statement against the latest committed rows, READ COMMITTED).
- changing the id of a referenced row: refused while something refers to it.
Not guarded: TRUNCATE of a referenced table (the foreign keys refused it unless the referencing
table was truncated in the same command). Errors use SQLSTATE 23503 (foreign_key_violation), so
drivers raise IntegrityError as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:40:00
"""
from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BULK_IDS = 10_000
# table -> its references checked per statement: (column, referenced table)
REFERENCES = {
    "assignment": (("campaign_id", "campaign"), ("person_id", "person"), ("unit_id", "unit")),
    "person": (("institution_id", "institution"), ("unit_id", "unit")),
}

_MISSING = """
CREATE FUNCTION reference_missing(tab text, col text, target text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_%_fkey"', tab, tab, col
    USING ERRCODE = 'foreign_key_violation', TABLE = tab, COLUMN = col,
          DETAIL = format('A row refers to a %s that does not exist (%s.%s).', target, tab, col);
END $$;
"""

_IN_USE = """
CREATE FUNCTION reference_in_use(tab text, referencing text, col text, detail text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%_%_fkey" on table "%"',
    tab, referencing, col, referencing
    USING ERRCODE = 'foreign_key_violation', TABLE = tab, DETAIL = detail;
END $$;
"""


def _insert_check(table: str, references: tuple[tuple[str, str], ...]) -> str:
    """AFTER INSERT ... FOR EACH STATEMENT on `table`. Static SQL, so each session plans it once
    (with EXECUTE a one-row insert cost ~0.3 ms more)."""
    checks = "".join(f"""
  ids := ARRAY(SELECT DISTINCT {column} FROM new_rows WHERE {column} IS NOT NULL);
  IF cardinality(ids) >= {BULK_IDS} AND current_setting('transaction_isolation') = 'read committed' THEN
    LOCK TABLE {target} IN SHARE MODE;
    SELECT count(*) INTO found FROM {target} WHERE id = ANY (ids);
  ELSE
    SELECT count(*) INTO found FROM (SELECT 1 FROM {target} WHERE id = ANY (ids) FOR KEY SHARE) locked;
  END IF;
  IF found < cardinality(ids) THEN
    PERFORM reference_missing('{table}', '{column}', '{target}');
  END IF;""" for column, target in references)  # noqa: S608 - names from REFERENCES above
    return f"""
CREATE FUNCTION {table}_references_exist() RETURNS trigger LANGUAGE plpgsql
SET work_mem = '64MB'  -- distinct ids of a national draw sort and hash in memory
AS $$
-- Per reference: the distinct ids of the statement's rows are locked as a foreign key check
-- locks them (FOR KEY SHARE), or, from {BULK_IDS} ids on under READ COMMITTED, the referenced
-- table is (SHARE: nobody changes it until this transaction ends), then counted.
DECLARE
  ids integer[];
  found bigint;
BEGIN{checks}
  RETURN NULL;
END $$;
"""


def _update_check(table: str, references: tuple[tuple[str, str], ...]) -> str:
    """AFTER UPDATE OF <columns> ... FOR EACH ROW on `table`: a changed reference exists."""
    checks = "".join(f"""
  IF NEW.{column} IS NOT NULL AND NEW.{column} IS DISTINCT FROM OLD.{column} THEN
    PERFORM 1 FROM {target} WHERE id = NEW.{column} FOR KEY SHARE;
    IF NOT FOUND THEN
      PERFORM reference_missing('{table}', '{column}', '{target}');
    END IF;
  END IF;""" for column, target in references)
    return f"""
CREATE FUNCTION {table}_reference_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{checks}
  RETURN NULL;
END $$;
"""


# On the referenced table, with TG_ARGV: referencing table, column. AFTER DELETE ... FOR EACH
# STATEMENT (old_rows: the deleted rows), and BEFORE UPDATE OF id ... FOR EACH ROW.
_GUARD = """
CREATE FUNCTION referenced_rows_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  used boolean;
BEGIN
  IF TG_OP = 'DELETE' THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I r WHERE r.%I IN (SELECT id FROM old_rows))', TG_ARGV[0], TG_ARGV[1])
      INTO used;
  ELSE
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[0], TG_ARGV[1]) INTO used USING OLD.id;
  END IF;
  IF used THEN
    PERFORM reference_in_use(TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1], format(
      CASE TG_OP WHEN 'DELETE' THEN '%s.%s still refers to a deleted %s.'
                 ELSE '%s.%s refers to this %s: its id cannot change.' END,
      TG_ARGV[0], TG_ARGV[1], TG_TABLE_NAME));
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END $$;
"""

_FUNCTIONS = ("reference_missing(text, text, text)", "reference_in_use(text, text, text, text)",
              "referenced_rows_kept()")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, references in REFERENCES.items():
        for column, _ in references:
            op.drop_constraint(f"{table}_{column}_fkey", table, type_="foreignkey")
    for sql in (_MISSING, _IN_USE, _GUARD):
        op.execute(sql)
    for table, references in REFERENCES.items():
        op.execute(_insert_check(table, references))
        op.execute(_update_check(table, references))
        columns = ", ".join(column for column, _ in references)
        op.execute(f"CREATE TRIGGER references_on_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_references_exist()")
        op.execute(f"CREATE TRIGGER references_on_update AFTER UPDATE OF {columns} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {table}_reference_changed()")
        for column, target in references:
            op.execute(f"CREATE TRIGGER {table}_{column}_kept_on_delete AFTER DELETE ON {target} "
                       f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION referenced_rows_kept('{table}', '{column}')")
            op.execute(f"CREATE TRIGGER {table}_{column}_kept_on_key_change BEFORE UPDATE OF id ON {target} "
                       f"FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
                       f"EXECUTE FUNCTION referenced_rows_kept('{table}', '{column}')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, references in REFERENCES.items():
        op.execute(f"DROP TRIGGER references_on_insert ON {table}")
        op.execute(f"DROP TRIGGER references_on_update ON {table}")
        op.execute(f"DROP FUNCTION {table}_references_exist()")
        op.execute(f"DROP FUNCTION {table}_reference_changed()")
        for column, target in references:
            op.execute(f"DROP TRIGGER {table}_{column}_kept_on_delete ON {target}")
            op.execute(f"DROP TRIGGER {table}_{column}_kept_on_key_change ON {target}")
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    for table, references in REFERENCES.items():
        for column, target in references:  # validated against every existing row
            op.create_foreign_key(f"{table}_{column}_fkey", table, target, [column], ["id"])
