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
from functools import lru_cache
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
    if isinstance(value, str) and _text_cell(value)[0]:
        return None  # "-", "tidak ada", ... (only short texts can be such markers)
    return value


def _text(value: Any, limit: int = 200) -> str | None:
    if isinstance(value, str):
        return _text_cell(value)[1]
    text = clean_text(value)
    return text[:limit] if text else None


@lru_cache(maxsize=1 << 16)
def _text_cell(value: str) -> tuple[bool, str | None, str | None]:
    """(is an empty marker, cleaned text cut to 200 characters, its word key when short).

    Cached: unit names, positions, services and dates repeat on every other row."""
    key = norm_key(value) if len(value) <= 16 else None
    if key is not None and key in keywords().empty:
        return True, None, key
    text = clean_text(value)
    return False, (text[:200] if text else None), key


def _row_key(value: Any) -> str | None:
    """The word key is_data_row judges a non-empty cell by; None for real data."""
    if isinstance(value, str):
        return _text_cell(value)[2]
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 100:
        return str(int(value))
    return None


def is_data_row(values: dict[str, Any]) -> bool:
    """False for blank rows, "dst" rows and the column-number row under some headers."""
    keys = []
    for value in values.values():
        if value is None:
            continue
        key = _row_key(value)
        if key is None:
            return True  # long text, dates, phone numbers: real data
        keys.append(key)
    return _short_keys_are_data(keys)


def _short_keys_are_data(keys: list[str]) -> bool:
    if not keys:
        return False
    dst = keywords().dst
    if all(k in dst or k == "" for k in keys):
        return False
    return not (len(keys) >= 3 and all(k.isdigit() and len(k) <= 2 for k in keys))


# Fields whose values repeat from row to row (their cleaning is cached); names, phones and
# emails are nearly all distinct, so caching them would only evict the useful entries.
_DISTINCT = frozenset({"name", "phone", "email"})


def _distinct_cell(value: str) -> tuple[bool, str | None]:
    """(is an empty marker, word key when short) for a text cell that is not cached."""
    if len(value) > 16:
        return False, None
    key = norm_key(value)
    return key in keywords().empty, key


def parse_row(form: str, columns: dict[str, int], cells: list[Any], row: int) -> Record | None:
    """One row as a Record (not yet judged), or SKIP for a row that is not data.

    The same as `_value` for every cell then `is_data_row`, in one pass (this runs per row)."""
    n = len(cells)
    values: dict[str, Any] = {}  # non-empty raw cells
    texts: dict[str, str | None] = {}  # cleaned text of cached text cells
    keys: list[str] = []
    data = False
    for f, i in columns.items():
        if i >= n:
            continue
        value = cells[i]
        if value is None or value == "":
            continue
        if type(value) is str:
            if f in _DISTINCT:
                empty, key = _distinct_cell(value)
            else:
                empty, text, key = _text_cell(value)
                texts[f] = text
            if empty:
                continue
        else:
            key = _row_key(value)
        values[f] = value
        if key is None:
            data = True
        elif not data:
            keys.append(key)
    if not data and not _short_keys_are_data(keys):
        return SKIP

    def text(f: str) -> str | None:
        if f in texts:
            return texts[f]
        return _text(values.get(f))

    email_raw = values.get("email")
    record = Record(
        form=form,
        row=row,
        name=_plain_text(values.get("name")) or "",
        unit_name=text("unit") or "",
        phone=normalize_phone(values.get("phone")),
        email=normalize_email(str(email_raw)) if email_raw is not None else None,
    )
    if form == "internal":
        record.position = text("position")
        record.start_date = _date_cell(values.get("start_date"))
        note = text("note") or ""
        record.non_asn = is_non_asn(f"{note} {record.position or ''}")
    elif form in ("external", "vendor"):
        record.service_name = text("service_name")
        record.service_date = _date_cell(values.get("service_date"))
        record.organisation = text("organisation")
    else:
        record.position = text("position")
        record.criterion = text("criterion")
    return record


def _date_cell(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return _cached_date(value)
    except TypeError:  # not hashable (never from calamine or csv, but be safe)
        return parse_date(value)


@lru_cache(maxsize=1 << 16)
def _cached_date(value: Any) -> date | None:
    """parse_date by raw cell (dates repeat: a year has 366 of them, times a few spellings)."""
    return parse_date(value)


def _plain_text(value: Any) -> str | None:
    """`_text` without the cache."""
    if value is None:
        return None
    text = clean_text(value)
    return text[:200] if text else None


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


@lru_cache(maxsize=64)
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
