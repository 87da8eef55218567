"""PostgreSQL: assignment's references checked once per statement instead of once per row

A national draw writes ~330,000 assignments in one COPY. With the three foreign keys of
assignment (campaign, person, unit) PostgreSQL ran three lookups per row, each locking the
referenced row: about half of the draw's server time (issue 3: 16.3 -> 9-10 s on this machine).
The same rules are now enforced by triggers that see a statement's rows together
(transition tables), and the foreign keys are gone from PostgreSQL. SQLite keeps its foreign
keys (cheap there) and is not touched; the models still declare them (`core.references`).

What the triggers guarantee, as the foreign keys did (tests/core/test_references.py):
- insert: every new row's campaign, person and unit (when set) exist. Up to BULK_ROWS rows a
  statement locks the referenced rows (FOR KEY SHARE, as a foreign key check does); from
  BULK_ROWS rows on, under READ COMMITTED, it locks the three tables in SHARE mode instead (no
  one changes them until this transaction ends) and checks with one anti-join each.
- update of campaign_id, person_id or unit_id: the new reference exists (row lock).
- delete from campaign, person or unit: refused while an assignment refers to a deleted row
  (checked after the statement against the latest committed rows, READ COMMITTED).
- changing the id of a referenced campaign, person or unit: refused.
Not guarded: TRUNCATE of campaign, person or unit (the foreign keys refused it unless assignment
was truncated in the same command). Errors use SQLSTATE 23503 (foreign_key_violation), so
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

BULK_ROWS = 10_000
REFERENCES = (("campaign_id", "campaign"), ("person_id", "person"), ("unit_id", "unit"))

_INSERT_CHECK = """
CREATE FUNCTION assignment_references_exist() RETURNS trigger LANGUAGE plpgsql
SET work_mem = '64MB' -- the bulk anti-joins hash in memory (0.97 -> 0.40 s for 330,000 rows)
AS $$
DECLARE
  ids integer[];
  found bigint;
BEGIN
  IF (SELECT count(*) FROM new_rows) >= BULK_ROWS
     AND current_setting('transaction_isolation') = 'read committed' THEN
    -- Nobody changes the referenced tables until this transaction ends; the checks below see
    -- the latest committed rows (a new snapshot per statement).
    LOCK TABLE campaign, person, unit IN SHARE MODE;
    IF EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM campaign t WHERE t.id = n.campaign_id)) THEN
      PERFORM assignment_reference_missing('campaign');
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM person t WHERE t.id = n.person_id)) THEN
      PERFORM assignment_reference_missing('person');
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows n
               WHERE n.unit_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM unit t WHERE t.id = n.unit_id)) THEN
      PERFORM assignment_reference_missing('unit');
    END IF;
    RETURN NULL;
  END IF;
  -- As a foreign key check does: lock each referenced row (a concurrent delete waits for this
  -- transaction; a row deleted meanwhile is not found).
  ids := ARRAY(SELECT DISTINCT campaign_id FROM new_rows);
  PERFORM 1 FROM campaign WHERE id = ANY (ids) FOR KEY SHARE;
  GET DIAGNOSTICS found = ROW_COUNT;
  IF found < cardinality(ids) THEN PERFORM assignment_reference_missing('campaign'); END IF;
  ids := ARRAY(SELECT DISTINCT person_id FROM new_rows);
  PERFORM 1 FROM person WHERE id = ANY (ids) FOR KEY SHARE;
  GET DIAGNOSTICS found = ROW_COUNT;
  IF found < cardinality(ids) THEN PERFORM assignment_reference_missing('person'); END IF;
  ids := ARRAY(SELECT DISTINCT unit_id FROM new_rows WHERE unit_id IS NOT NULL);
  PERFORM 1 FROM unit WHERE id = ANY (ids) FOR KEY SHARE;
  GET DIAGNOSTICS found = ROW_COUNT;
  IF found < cardinality(ids) THEN PERFORM assignment_reference_missing('unit'); END IF;
  RETURN NULL;
END $$;
""".replace("BULK_ROWS", str(BULK_ROWS))

_MISSING = """
CREATE FUNCTION assignment_reference_missing(target text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'insert or update on table "assignment" violates foreign key constraint "assignment_%_id_fkey"', target
    USING ERRCODE = 'foreign_key_violation', TABLE = 'assignment',
          DETAIL = format('A %s the assignment refers to does not exist.', target);
END $$;
"""

_UPDATE_CHECK = """
CREATE FUNCTION assignment_reference_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM campaign WHERE id = NEW.campaign_id FOR KEY SHARE;
  IF NOT FOUND THEN PERFORM assignment_reference_missing('campaign'); END IF;
  PERFORM 1 FROM person WHERE id = NEW.person_id FOR KEY SHARE;
  IF NOT FOUND THEN PERFORM assignment_reference_missing('person'); END IF;
  IF NEW.unit_id IS NOT NULL THEN
    PERFORM 1 FROM unit WHERE id = NEW.unit_id FOR KEY SHARE;
    IF NOT FOUND THEN PERFORM assignment_reference_missing('unit'); END IF;
  END IF;
  RETURN NULL;
END $$;
"""

# TG_ARGV[0]: assignment's column that refers to the table the trigger is on.
_DELETE_GUARD = """
CREATE FUNCTION assignment_referenced_rows_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  used boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM assignment a WHERE a.%I IN (SELECT id FROM old_rows))', TG_ARGV[0])
    INTO used;
  IF used THEN
    RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "assignment_%_fkey" on table "assignment"',
      TG_TABLE_NAME, TG_ARGV[0]
      USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME,
            DETAIL = format('An assignment still refers to a deleted %s.', TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END $$;
"""

_KEY_GUARD = """
CREATE FUNCTION assignment_referenced_key_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  used boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM assignment WHERE %I = $1)', TG_ARGV[0]) INTO used USING OLD.id;
  IF used THEN
    RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "assignment_%_fkey" on table "assignment"',
      TG_TABLE_NAME, TG_ARGV[0]
      USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME,
            DETAIL = format('An assignment refers to this %s: its id cannot change.', TG_TABLE_NAME);
  END IF;
  RETURN NEW;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, _ in REFERENCES:
        op.drop_constraint(f"assignment_{column}_fkey", "assignment", type_="foreignkey")
    for sql in (_MISSING, _INSERT_CHECK, _UPDATE_CHECK, _DELETE_GUARD, _KEY_GUARD):
        op.execute(sql)
    op.execute("CREATE TRIGGER assignment_references_on_insert AFTER INSERT ON assignment "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION assignment_references_exist()")
    op.execute("CREATE TRIGGER assignment_references_on_update AFTER UPDATE OF campaign_id, person_id, unit_id "
               "ON assignment FOR EACH ROW WHEN (OLD.campaign_id IS DISTINCT FROM NEW.campaign_id "
               "OR OLD.person_id IS DISTINCT FROM NEW.person_id OR OLD.unit_id IS DISTINCT FROM NEW.unit_id) "
               "EXECUTE FUNCTION assignment_reference_changed()")
    for column, table in REFERENCES:
        op.execute(f"CREATE TRIGGER assignment_refers_on_delete AFTER DELETE ON {table} "
                   f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION assignment_referenced_rows_kept('{column}')")
        op.execute(f"CREATE TRIGGER assignment_refers_on_key_change BEFORE UPDATE OF id ON {table} "
                   f"FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
                   f"EXECUTE FUNCTION assignment_referenced_key_kept('{column}')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for _, table in REFERENCES:
        op.execute(f"DROP TRIGGER assignment_refers_on_delete ON {table}")
        op.execute(f"DROP TRIGGER assignment_refers_on_key_change ON {table}")
    op.execute("DROP TRIGGER assignment_references_on_insert ON assignment")
    op.execute("DROP TRIGGER assignment_references_on_update ON assignment")
    for function in ("assignment_references_exist()", "assignment_reference_changed()",
                     "assignment_referenced_rows_kept()", "assignment_referenced_key_kept()",
                     "assignment_reference_missing(text)"):
        op.execute(f"DROP FUNCTION {function}")
    for column, table in REFERENCES:  # validated against every existing row
        op.create_foreign_key(f"assignment_{column}_fkey", "assignment", table, [column], ["id"])
