"""Data rows of a population form -> cleaned `Record`s (the verdict is in records.py).

Rows are cleaned a chunk at a time, column by column (`parse_rows`): values that repeat from
row to row (unit names, positions, services, dates) are cleaned once per distinct text, and the
per-row work is reduced to assembling a Record. `parse_row` is the same for a single row.

A row is skipped (SKIP) when it is not data: blank, "dst" ("and so on"), the column-number
row under some headers, or a line of the footer under the table (signature block, notes,
totals: footer.py). A cell holding an empty marker ("-", "tidak ada", ...) counts as empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from population.footer import Footer
from population.normalize import (
    clean_text,
    first_mobile,
    has_several_phones,
    mobile_from_digits,
    norm_key,
    normalize_email,
    normalize_phone,
    parse_date,
    phone_digits,
)
from population.rules import is_non_asn, keywords

MULTIPLE_PHONES = "multiple_phones"  # a phone cell with several numbers: the first mobile is used
INVALID_EMAIL = "invalid_email"  # an email cell that is not an address: reported on its row, not used
SKIP = None  # returned for rows that are not data (blank, "dst", column numbers)
EMPTY = ""  # row key of an empty cell (an empty marker's key is "" or in keywords().empty)
FIELDS = ("name", "unit", "phone", "email", "position", "start_date", "note", "service_name",
          "service_date", "organisation", "criterion", "institution_start")


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
    institution_start: date | None = None  # internal, optional column: start at the institution
    non_asn: bool = False
    status: str = "eligible"
    reason: str | None = None
    flags: list[str] = field(default_factory=list)

    def name_key(self) -> str:
        return norm_key(self.name)


# --- single cells ---------------------------------------------------------------------------
# Each cleaner returns (value, row key): the row key is EMPTY for an empty cell, a short word
# key for short text and small numbers (what `_short_keys_are_data` judges), None for real data.

Cell = tuple[Any, str | None]
_EMPTY_CELL: Cell = (None, EMPTY)


def _key_of(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 100:
        return str(int(value))
    return None


@lru_cache(maxsize=1 << 16)
def _text_str(value: str) -> Cell:
    """A text cell (cached: unit names, positions and services repeat)."""
    key = norm_key(value) if len(value) <= 16 else None
    if key is not None and key in keywords().empty:
        return _EMPTY_CELL
    text = clean_text(value)
    return (text[:200] if text else None), key


def _text(value: Any) -> Cell:
    if type(value) is str:
        return _text_str(value) if value else _EMPTY_CELL
    if value is None:
        return _EMPTY_CELL
    text = clean_text(value)
    return (text[:200] if text else None), _key_of(value)


def _short_key(value: str) -> tuple[bool, str | None]:
    """(is an empty marker, row key) of a text cell, uncached (for distinct values)."""
    if len(value) > 16:
        return False, None
    key = norm_key(value)
    return key in keywords().empty, key


def _name(value: Any) -> Cell:
    if type(value) is str:
        if not value:
            return _EMPTY_CELL
        empty, key = _short_key(value)
        if empty:
            return _EMPTY_CELL
        text = clean_text(value)
        return (text[:200] if text else None), key
    return _text(value)


def _phone(value: Any) -> Cell:
    if type(value) is str:
        if not value:
            return _EMPTY_CELL
        if has_several_phones(value):  # "0812-1111-2222 / 0813-3333-4444": the first mobile (flagged)
            return first_mobile(value), None
        full = phone_digits(value)
        digits = full.removeprefix("+")
        if len(digits) >= 3 and digits.isascii():
            # Three ASCII digits make the cell real data, never an empty marker (markers are
            # words or "0"): skip the word key.
            return mobile_from_digits(full), None
        empty, key = _short_key(value)
        return _EMPTY_CELL if empty else (normalize_phone(value), key)
    if value is None:
        return _EMPTY_CELL
    return normalize_phone(value), _key_of(value)


def _email(value: Any) -> Cell:
    if type(value) is str:
        if not value:
            return _EMPTY_CELL
        empty, key = _short_key(value)
        return _EMPTY_CELL if empty else (normalize_email(value), key)
    if value is None:
        return _EMPTY_CELL
    return normalize_email(str(value)), _key_of(value)


@lru_cache(maxsize=1 << 16)
def _date_str(value: str) -> Cell:
    empty, key = _short_key(value)
    return _EMPTY_CELL if empty else (parse_date(value), key)


@lru_cache(maxsize=1 << 14)
def _date_obj(value: date) -> Cell:
    return parse_date(value), None


def _date(value: Any) -> Cell:
    kind = type(value)
    if kind is str:
        return _date_str(value) if value else _EMPTY_CELL
    if kind is date or kind is datetime:
        return _date_obj(value)
    if value is None:
        return _EMPTY_CELL
    return parse_date(value), _key_of(value)


_CLEANERS: dict[str, Callable[[Any], Cell]] = {
    "name": _name, "phone": _phone, "email": _email, "start_date": _date, "service_date": _date,
    "institution_start": _date,
}


def _short_keys_are_data(keys: Sequence[str | None]) -> bool:
    """For a row whose non-empty cells are all short: is it data after all?"""
    present = [k for k in keys if k is not None and k != EMPTY]
    if not present:
        return False  # blank (or only empty markers)
    dst = keywords().dst
    if all(k in dst for k in present):
        return False
    return not (len(present) >= 3 and all(k.isdigit() and len(k) <= 2 for k in present))


# --- rows -----------------------------------------------------------------------------------

def parse_rows(form: str, columns: dict[str, int], rows: Sequence[Sequence[Any]],
               first_row: int, footer: Footer | None = None) -> list[Record | None]:
    """Records (not yet judged) for `rows`, numbered from `first_row`; SKIP for non-data rows.
    `footer` carries the footer state of the sheet from one chunk to the next."""
    if not rows:
        return []
    if footer is None:
        footer = Footer()
    nothing = [None] * len(rows)
    values: dict[str, list[Any]] = {}
    keys: list[list[str | None]] = []
    for f, i in columns.items():
        clean = _CLEANERS.get(f, _text)
        cells = [clean(r[i] if i < len(r) else None) for r in rows]
        values[f] = [c[0] for c in cells]
        keys.append([c[1] for c in cells])
    out: list[Record | None] = []
    get = values.get
    internal, external, expert = form == "internal", form in ("external", "vendor"), form == "expert"
    phone_at, email_at = columns.get("phone"), columns.get("email")
    number = first_row
    for raw, row_keys, name, unit, phone, email, position, start, note, service, served, org, criterion, since in zip(
        rows, zip(*keys, strict=True), *(get(f, nothing) for f in FIELDS), strict=True,
    ):
        if (None not in row_keys and not _short_keys_are_data(row_keys)) or (
            phone is None and email is None and footer.take(raw)
        ):
            out.append(SKIP)
            number += 1
            continue
        footer.active = False  # a data row ends the footer (a note between two parts of a table)
        if internal:
            out.append(Record(form, number, name or "", unit or "", phone, email, position, start,
                              institution_start=since,
                              non_asn=is_non_asn(f"{note or ''} {position or ''}")))
        elif external:
            out.append(Record(form, number, name or "", unit or "", phone, email,
                              service_name=service, service_date=served, organisation=org))
        elif expert:
            out.append(Record(form, number, name or "", unit or "", phone, email, position,
                              criterion=criterion))
        last = out[-1] if out else None
        if (last is not None and last.row == number and phone is not None and phone_at is not None
                and phone_at < len(raw) and has_several_phones(raw[phone_at])):
            last.flags.append(MULTIPLE_PHONES)
        if (last is not None and last.row == number and email is None and email_at is not None
                and email_at < len(raw) and _looks_like_an_address(raw[email_at])):
            last.flags.append(INVALID_EMAIL)
        number += 1
    return out


def _looks_like_an_address(cell: Any) -> bool:
    """An email cell someone meant as an address ("budi@gmail", "budi.gmail.com"), as opposed to
    an empty marker ("-", "tidak ada"): it has an @, or a dot and no space."""
    text = str(cell or "").strip()
    return "@" in text or ("." in text and " " not in text and len(text) > 3)


def parse_row(form: str, columns: dict[str, int], cells: Sequence[Any], row: int) -> Record | None:
    """One row as a Record (not yet judged), or SKIP for a row that is not data."""
    return parse_rows(form, columns, [cells], row)[0]


def is_data_row(values: dict[str, Any]) -> bool:
    """False for blank rows, "dst" rows and the column-number row under some headers."""
    keys = [_CLEANERS.get(f, _text)(v)[1] for f, v in values.items()]
    return None in keys or _short_keys_are_data(keys)
