"""One data row of a population form -> a cleaned record with its verdict.

Order of the verdict (the first that applies is recorded):
 1. not usable: missing_name, missing_unit, no_valid_contact, then the fields the form's
    eligibility needs (internal: missing_start_date, missing_position; external:
    missing_service_name, missing_service_date; vendor: missing_service_date; expert:
    missing_criterion);
 2. excluded: excluded_unit; internal: top_official, support_role, tenure_under_1_year;
    external/vendor: outside_service_window (12 months ending on the reference date), is_employee;
 3. otherwise eligible (internal non-ASN staff flagged "non_asn").
The narrower window of busy units (> 300 / > 1,000 users a month) is applied by the importer
once a unit's volume is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from population.normalize import clean_text, norm_key, normalize_email, normalize_phone, parse_date
from population.rules import (
    is_excluded_unit,
    is_non_asn,
    is_support_role,
    is_top_official,
    keywords,
)

SKIP = None  # returned for rows that are not data (blank, "dst", column numbers)


@dataclass(slots=True)
class Record:
    form: str
    row: int
    name: str
    unit_name: str
    phone: str | None
    email: str | None
    position: str | None = None
    start_date: date | None = None
    service_name: str | None = None
    service_date: date | None = None
    organisation: str | None = None
    criterion: str | None = None
    non_asn: bool = False
    status: str = "eligible"
    reason: str | None = None
    flags: list[str] = field(default_factory=list)

    def name_key(self) -> str:
        return norm_key(self.name)


def _value(cells: list[Any], index: int | None) -> Any:
    if index is None or index >= len(cells):
        return None
    value = cells[index]
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) <= 16 and norm_key(value) in keywords().empty:
        return None  # "-", "tidak ada", ... (only short texts can be such markers)
    return value


def _text(value: Any, limit: int = 200) -> str | None:
    text = clean_text(value)
    return text[:limit] if text else None


def is_data_row(values: dict[str, Any]) -> bool:
    """False for blank rows, "dst" rows and the column-number row under some headers."""
    keys = []
    for value in values.values():
        if value is None:
            continue
        if isinstance(value, str) and len(value) <= 16:
            keys.append(norm_key(value))
        elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 100:
            keys.append(str(int(value)))
        else:
            return True  # long text, dates, phone numbers: real data
    if not keys:
        return False
    dst = keywords().dst
    if all(k in dst or k == "" for k in keys):
        return False
    return not (len(keys) >= 3 and all(k.isdigit() and len(k) <= 2 for k in keys))


def parse_row(form: str, columns: dict[str, int], cells: list[Any], row: int) -> Record | None:
    values = {f: _value(cells, i) for f, i in columns.items()}
    if not is_data_row(values):
        return SKIP
    email_raw = values.get("email")
    record = Record(
        form=form,
        row=row,
        name=_text(values.get("name")) or "",
        unit_name=_text(values.get("unit")) or "",
        phone=normalize_phone(values.get("phone")),
        email=normalize_email(str(email_raw)) if email_raw is not None else None,
    )
    if form == "internal":
        record.position = _text(values.get("position"))
        record.start_date = parse_date(values.get("start_date"))
        note = _text(values.get("note")) or ""
        record.non_asn = is_non_asn(f"{note} {record.position or ''}")
    elif form in ("external", "vendor"):
        record.service_name = _text(values.get("service_name"))
        record.service_date = parse_date(values.get("service_date"))
        record.organisation = _text(values.get("organisation"))
    else:
        record.position = _text(values.get("position"))
        record.criterion = _text(values.get("criterion"))
    return record


def unusable_reason(r: Record) -> str | None:
    if not r.name:
        return "missing_name"
    if not r.unit_name and r.form != "expert":
        return "missing_unit"
    if not r.phone and not r.email:
        return "no_valid_contact"
    if r.form == "internal":
        if r.start_date is None:
            return "missing_start_date"
        if not r.position:
            return "missing_position"
    elif r.form == "external":
        if not r.service_name:
            return "missing_service_name"
        if r.service_date is None:
            return "missing_service_date"
    elif r.form == "vendor":
        if r.service_date is None:
            return "missing_service_date"
    elif not r.criterion:
        return "missing_criterion"
    return None


def one_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def exclusion_reason(r: Record, reference_date: date, employee_contacts: set[str]) -> str | None:
    if r.form == "expert":
        return None
    if is_excluded_unit(r.unit_name):
        return "excluded_unit"
    if r.form == "internal":
        position = r.position or ""
        if is_top_official(position):
            return "top_official"
        if is_support_role(position):
            return "support_role"
        assert r.start_date is not None
        if r.start_date > one_year_before(reference_date):
            return "tenure_under_1_year"
        return None
    assert r.service_date is not None
    if not one_year_before(reference_date) < r.service_date <= reference_date:
        return "outside_service_window"
    if (r.phone and r.phone in employee_contacts) or (r.email and r.email.lower() in employee_contacts):
        return "is_employee"
    return None


def judge(r: Record, reference_date: date, employee_contacts: set[str]) -> None:
    """Set the record's status, reason and flags."""
    reason = unusable_reason(r)
    if reason:
        r.status, r.reason = "unusable", reason
    else:
        reason = exclusion_reason(r, reference_date, employee_contacts)
        if reason:
            r.status, r.reason = "excluded", reason
    if r.non_asn:
        r.flags.append("non_asn")
