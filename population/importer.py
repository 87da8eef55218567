"""`import_files`: population files -> Unit and Person rows, all or nothing.

Every sheet is scanned (header found, form recognised) before anything is written, so a broken
file or sheet is refused up front. Rows are then streamed and bulk-inserted inside a SAVEPOINT:
any error rolls the whole import back. Internal sheets go first, so external users can be
recognised as the institution's own employees (`is_employee`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, func, select, update
from sqlmodel import Session, col

from core.audit import record as audit
from core.clock import utcnow
from core.models import Institution, Person, Unit
from population.bulk import BulkWriter, bulk_mode
from population.footer import Footer
from population.models import ImportBatch
from population.normalize import norm_key
from population.reader import FORMS, SheetRef, raw_rows, scan
from population.records import Record, judge, parse_rows
from population.reimport import UnitChange, already_imported, replace_earlier
from population.rules import is_excluded_unit

CHUNK = 10_000  # rows between progress reports
PARSE_CHUNK = 2_000  # rows cleaned together, column by column
# Person rows are written as plain tuples in this column order (COPY on PostgreSQL, executemany
# on SQLite): no ORM object and no per-row dict.
PERSON_COLUMNS = (
    "institution_id", "unit_id", "group", "name", "phone", "email", "position", "start_date",
    "service_name", "service_date", "organisation", "criterion", "non_asn", "status", "reason",
    "flags", "source", "source_file", "source_sheet", "source_row", "import_batch_id", "created_at",
)
FORM_ORDER = {"internal": 0, "expert": 1, "external": 2, "vendor": 3}
BUSY_MONTHLY, VERY_BUSY_MONTHLY = 300, 1000


@dataclass
class FormCounts:
    rows: int = 0
    eligible: int = 0
    eligible_non_asn: int = 0
    duplicates: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    unusable: dict[str, int] = field(default_factory=dict)


@dataclass
class ImportReport:
    batch_id: int | None  # None: every file was imported before, nothing was written
    institution_id: int
    reference_date: date
    files: list[str]
    forms: dict[str, FormCounts]
    sheets: list[dict[str, Any]]  # file, sheet, form, header row, data rows, footer rows
    units_created: int = 0
    unchanged: list[str] = field(default_factory=list)  # files skipped: imported before, same content
    changes: list[UnitChange] = field(default_factory=list)  # unit lists this import replaced

    def summary(self) -> dict[str, dict[str, Any]]:
        """`{"internal": {"rows", "eligible", "eligible_non_asn", "duplicates", "excluded":
        {reason: n}, "unusable": {reason: n}}, "external": ..., "vendor": ..., "expert": ...}`
        (all four forms; reasons with a zero count are left out)."""
        return {
            form: {
                "rows": c.rows, "eligible": c.eligible, "eligible_non_asn": c.eligible_non_asn,
                "duplicates": c.duplicates, "excluded": dict(sorted(c.excluded.items())),
                "unusable": dict(sorted(c.unusable.items())),
            }
            for form, c in self.forms.items()
        }


def unit_code(name: str) -> str:
    """A stable code for a unit name: its slug (long names get a hash suffix)."""
    slug = re.sub(r"[^0-9a-z]+", "-", name.lower()).strip("-") or "unit"
    if len(slug) > 60:
        slug = slug[:51].rstrip("-") + "-" + hashlib.sha1(slug.encode()).hexdigest()[:8]  # noqa: S324
    return slug


class HashedContacts:
    """A set of contacts kept as their 64-bit hashes: about 60 bytes a contact instead of 150.
    A false match needs a hash collision, odds of about 1 in 10^19 per pair of contacts."""

    __slots__ = ("_hashes",)

    def __init__(self) -> None:
        self._hashes: set[int] = set()

    def add(self, contact: str) -> None:
        self._hashes.add(hash(contact))

    def __contains__(self, contact: object) -> bool:
        return hash(contact) in self._hashes


class _Intake:
    """The state of one import: unit cache, duplicate keys, contacts seen, counters."""

    def __init__(self, session: Session, institution: Institution, reference_date: date, batch_id: int):
        self.session, self.institution, self.reference_date = session, institution, reference_date
        self.batch_id = batch_id
        self.units: dict[str, Unit] = {
            u.code: u for u in session.scalars(select(Unit).where(col(Unit.institution_id) == institution.id))
        }
        self.unit_ids: dict[str, int | None] = {}  # unit name as written -> id
        self.unit_keys: dict[str, str] = {}  # unit name as written -> its word key
        self.units_created = 0
        self.writer = BulkWriter(session, Person.__table__, PERSON_COLUMNS, binary=True)  # type: ignore[attr-defined]
        self._date_of = self.writer.converter("start_date")  # same type for every date column
        self._dates: dict[date, Any] = {}  # date -> its driver value (dates repeat a lot)
        self._flags: dict[tuple[str, ...], Any] = {}
        self.rows: Counter[str] = Counter()
        self.footer = Footer()  # the footer of the sheet being read (lines that are not data)
        self.duplicates: Counter[str] = Counter()
        self.seen: set[int] = set()
        # Per-row state is kept as hashes (plain ints: compact, and nothing for the cyclic
        # garbage collector to walk): hash((form, contact)) -> hash of the first name seen.
        self.contact_name: dict[int, int] = {}
        self.shared: set[tuple[str, str]] = set()  # (form, contact)
        self.employee_contacts = HashedContacts()
        # unit id -> [external rows within the 12-month window, earliest month index]
        self.volume: dict[int, list[int]] = defaultdict(lambda: [0, 10**9])
        self.now = utcnow()
        self.created_at = self.writer.value("created_at", self.now)
        for phone, email in session.execute(
            select(col(Person.phone), col(Person.email)).where(
                col(Person.institution_id) == institution.id, col(Person.group) == "internal"
            )
        ):
            for contact in (phone, email):
                if contact:
                    self.employee_contacts.add(contact.lower())

    def unit_id(self, name: str) -> int | None:
        if not name:
            return None
        known = self.unit_ids.get(name, 0)
        if known != 0:
            return known
        code = unit_code(name)
        unit = self.units.get(code)
        if unit is None:
            self.writer.flush()  # the INSERT needs the connection (a COPY may be running)
            unit = Unit(institution_id=self.institution.id, code=code, name=name[:200],  # type: ignore[arg-type]
                        serves_public=not is_excluded_unit(name))
            self.session.add(unit)
            self.session.flush()
            self.units[code] = unit
            self.units_created += 1
        self.unit_ids[name] = unit.id
        return unit.id

    def unit_key(self, name: str) -> str:
        key = self.unit_keys.get(name)
        if key is None:
            key = self.unit_keys[name] = norm_key(name)
        return key

    def db_date(self, day: date | None) -> Any:
        if day is None:
            return None
        value = self._dates.get(day)
        if value is None:
            value = self._dates[day] = self._date_of(day)
        return value

    def db_flags(self, flags: list[str]) -> Any:
        key = tuple(flags)
        value = self._flags.get(key)
        if value is None:
            value = self._flags[key] = self.writer.value("flags", flags)
        return value

    def is_duplicate(self, r: Record) -> bool:
        name_key = r.name_key()
        key = hash((r.form, self.unit_key(r.unit_name), name_key, r.phone, r.email))
        if key in self.seen:
            return True
        self.seen.add(key)
        name_hash = hash(name_key)
        for contact in (r.phone, r.email):
            if contact:
                first = self.contact_name.setdefault(hash((r.form, contact)), name_hash)
                if first != name_hash:
                    self.shared.add((r.form, contact))
        return False

    def to_row(self, r: Record, source: tuple[Any, ...]) -> tuple[Any, ...]:
        """The Person row in PERSON_COLUMNS order; `source` is (institution id, file, sheet)."""
        unit_id = self.unit_id(r.unit_name)
        if r.form == "internal":
            if r.phone:
                self.employee_contacts.add(r.phone.lower())
            if r.email:
                self.employee_contacts.add(r.email.lower())
        elif r.form == "external" and r.status == "eligible" and unit_id is not None:
            assert r.service_date is not None
            vol = self.volume[unit_id]
            vol[0] += 1
            vol[1] = min(vol[1], r.service_date.year * 12 + r.service_date.month - 1)
        institution_id, source_file, source_sheet = source
        return (
            institution_id, unit_id, r.form, r.name, r.phone, r.email, r.position,
            self.db_date(r.start_date), r.service_name, self.db_date(r.service_date),
            r.organisation, r.criterion, r.non_asn, r.status, r.reason, self.db_flags(r.flags),
            "import", source_file, source_sheet, r.row, self.batch_id, self.created_at,
        )

    def source(self, ref: SheetRef) -> tuple[Any, ...]:
        return (self.institution.id, ref.path.name[:255], (ref.sheet or "")[:100] or None)

    def records(self, ref: SheetRef) -> Iterable[Record]:
        """The sheet's new (not duplicate) records, judged; rows are cleaned PARSE_CHUNK at a time."""
        layout = ref.layout
        form, columns = layout.form, layout.columns
        reference_date, employees = self.reference_date, self.employee_contacts
        rows = raw_rows(ref)
        for _ in islice(rows, layout.header_row):
            pass
        first = layout.header_row + 1
        footer = self.footer = Footer()
        while chunk := list(islice(rows, PARSE_CHUNK)):
            for record in parse_rows(form, columns, chunk, first, footer):
                if record is None:
                    continue
                self.rows[form] += 1
                if self.is_duplicate(record):
                    self.duplicates[form] += 1
                    continue
                judge(record, reference_date, employees)
                yield record
            first += len(chunk)


def import_files(
    session: Session,
    paths: list[Path],
    institution: Institution,
    reference_date: date,
    *,
    progress: Callable[[int], None] | None = None,
    actor: str = "system",
) -> ImportReport:
    """Import population files for an institution (see the module docstring).

    Raises IntakeError (nothing written) on a file or sheet that cannot be imported; row-level
    problems are counted in the report, never raised. The caller commits."""
    scanned = {Path(p): scan(Path(p)) for p in paths}  # every file and sheet checked first
    entry = {path: f"{path.name} sha256:{_sha256(path)}" for path in scanned}
    files = list(entry.values())
    unchanged = already_imported(session, institution.id, files)  # type: ignore[arg-type]
    fresh = [path for path in scanned if entry[path] not in unchanged]
    refs = sorted((ref for path in fresh for ref in scanned[path]), key=lambda r: FORM_ORDER[r.layout.form])
    if not fresh:  # the exact same files again: nothing to do, and the report says so
        return ImportReport(None, institution.id, reference_date, files,  # type: ignore[arg-type]
                            {form: FormCounts() for form in FORM_ORDER}, [], unchanged=sorted(unchanged))
    with session.begin_nested(), bulk_mode(session):
        batch = ImportBatch(institution_id=institution.id, reference_date=reference_date,  # type: ignore[arg-type]
                            files=files, actor=actor, created_at=utcnow())
        session.add(batch)
        session.flush()
        assert batch.id is not None
        intake = _Intake(session, institution, reference_date, batch.id)
        sheets: list[dict[str, Any]] = []
        done = 0
        for ref in refs:
            before = sum(intake.rows.values())
            source, to_row, append = intake.source(ref), intake.to_row, intake.writer.append
            with intake.writer:
                for record in intake.records(ref):
                    append(to_row(record, source))
                    done += 1
                    if progress and done % CHUNK == 0:
                        progress(done)
            if progress:
                progress(done)
            sheets.append({"file": ref.path.name, "sheet": ref.sheet, "form": ref.layout.form,
                           "header_row": ref.layout.header_row,
                           "rows": sum(intake.rows.values()) - before,
                           "footer_rows": intake.footer.rows})
        changes = replace_earlier(session, institution.id, batch.id)  # type: ignore[arg-type]
        _narrow_busy_units(intake)
        _flag_shared_contacts(intake)
        forms = _count(session, batch.id, intake)
        report = ImportReport(batch.id, institution.id, reference_date, files, forms, sheets,  # type: ignore[arg-type]
                              intake.units_created, unchanged=sorted(unchanged), changes=changes)
        batch.summary = report.summary()
        audit(session, actor, "population.import", institution_id=institution.id,
              target=f"import_batch:{batch.id}",
              details={"files": files, "reference_date": reference_date.isoformat(),
                       "summary": batch.summary, "unchanged": sorted(unchanged),
                       "replaced": [c.describe() for c in changes]})
        session.flush()
    return report


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _narrow_busy_units(intake: _Intake) -> None:
    """Units with > 300 users a month count only the last 3 calendar months (> 1,000: the last
    month). The monthly average is the unit's `avg_monthly_users` when set, otherwise the
    external rows in the 12-month window divided by the months they span."""
    ref = intake.reference_date
    ref_month = ref.year * 12 + ref.month - 1
    by_id = {u.id: u for u in intake.units.values()}
    for unit_id, (count, first_month) in intake.volume.items():
        unit = by_id[unit_id]
        average: float | None = unit.avg_monthly_users
        if average is None:
            average = count / max(1, ref_month - first_month + 1)
        if average > VERY_BUSY_MONTHLY:
            months = 1
        elif average > BUSY_MONTHLY:
            months = 3
        else:
            continue
        start_month = ref_month - months + 1
        start = date(start_month // 12, start_month % 12 + 1, 1)
        intake.session.execute(
            update(Person)
            .where(col(Person.import_batch_id) == intake.batch_id, col(Person.unit_id) == unit_id,
                   col(Person.group) == "external", col(Person.status) == "eligible",
                   col(Person.service_date) < start)
            .values(status="excluded", reason="outside_service_window")
        )


SHARED_CONTACT = Table("import_shared_contact", MetaData(),
                       Column("form", String(16)), Column("contact", String(254)))


def _flag_shared_contacts(intake: _Intake) -> None:
    """The same contact under different names: kept, and flagged "shared_contact".

    The shared contacts go into a temporary table (one bulk write), then one UPDATE per form
    and contact column, so the cost follows the number of shared contacts and the batch size
    once, never their product (the earlier IN-lists of 500 contacts re-read the whole batch each
    time: 15 s of a million-row import on PostgreSQL). SQLite walks the phone or email index
    for each shared contact (`IN (SELECT ...)`); PostgreSQL hash-joins the batch with the
    table, with nested loops ruled out for the statement: the rows just copied have no
    statistics yet, and a nested loop planned for "a few rows" ran 44 s on 100,000. This
    batch's rows carry no flag but "non_asn" yet, so the new flags are known without reading
    the rows."""
    if not intake.shared:
        return
    session = intake.session
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    table = SHARED_CONTACT.name
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table} (form VARCHAR(16) NOT NULL, contact VARCHAR(254) NOT NULL)")
    BulkWriter(session, SHARED_CONTACT, ("form", "contact")).write(sorted(intake.shared))
    both, shared = json.dumps(["non_asn", "shared_contact"]), json.dumps(["shared_contact"])
    # Names come from code, never from input.
    if postgres:
        nestloop = conn.exec_driver_sql("SELECT current_setting('enable_nestloop')").scalar()
        conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
        for column in ("phone", "email"):
            conn.exec_driver_sql(
                "UPDATE person SET flags = CASE WHEN non_asn THEN CAST(%s AS json) ELSE CAST(%s AS json) END "  # noqa: S608
                f'FROM {table} AS s WHERE person.import_batch_id = %s AND person."group" = s.form '
                f"AND person.{column} = s.contact",
                (both, shared, intake.batch_id),
            )
        conn.exec_driver_sql("SELECT set_config('enable_nestloop', %s, true)", (nestloop,))
    else:
        for form in sorted({form for form, _ in intake.shared}):
            for column in ("phone", "email"):
                conn.exec_driver_sql(
                    "UPDATE person SET flags = CASE WHEN non_asn THEN ? ELSE ? END "  # noqa: S608
                    f'WHERE import_batch_id = ? AND "group" = ? AND {column} IN '
                    f"(SELECT contact FROM {table} WHERE form = ?)",
                    (both, shared, intake.batch_id, form, form),
                )
    conn.exec_driver_sql(f"DROP TABLE {table}")


def _count(session: Session, batch_id: int, intake: _Intake) -> dict[str, FormCounts]:
    forms = {form: FormCounts(rows=intake.rows[form], duplicates=intake.duplicates[form])
             for form in FORMS}
    query = (
        select(col(Person.group), col(Person.status), col(Person.reason), col(Person.non_asn), func.count())
        .where(col(Person.import_batch_id) == batch_id)
        .group_by(col(Person.group), col(Person.status), col(Person.reason), col(Person.non_asn))
    )
    for group, status, reason, non_asn, n in session.execute(query):
        counts = forms[group]
        if status == "eligible":
            counts.eligible += n
            if non_asn:
                counts.eligible_non_asn += n
        elif status == "excluded":
            counts.excluded[reason] = counts.excluded.get(reason, 0) + n
        else:
            counts.unusable[reason] = counts.unusable.get(reason, 0) + n
    return forms
