"""Cleaning single cells: text, phone numbers, emails and dates, as the regions write them.

These run once per cell on files of a million rows, so each has a fast path (a regex or a cache)
and falls back to the reference library (phonenumbers, email-validator) only when needed. The
tests check that both paths agree.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_NON_WORD = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")  # whitespace and control characters (a NUL cannot be stored)


def norm_key(value: object) -> str:
    """Lower case, every non-letter/digit becomes a space, collapsed: for matching words."""
    if value is None:
        return ""
    return _NON_WORD.sub(" ", str(value).lower()).strip()


def clean_text(value: object) -> str:
    """A cell as text: stray spaces removed, numbers like 3.0 written as 3."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _SPACES.sub(" ", str(value)).strip()


def has_phrase(key: str, phrases: tuple[str, ...]) -> bool:
    """Whether a normalised text contains one of the normalised phrases as whole words."""
    padded = f" {key} "
    return any(f" {p} " in padded for p in phrases)


# --- phones ---------------------------------------------------------------------------------

_ID_META = phonenumbers.PhoneMetadata.metadata_for_region("ID")
assert _ID_META is not None and _ID_META.mobile is not None and _ID_META.mobile.national_number_pattern
# phonenumbers' own pattern for Indonesian mobile numbers (e.g. 8[1-35-9]\d{7,10}).
_ID_MOBILE = re.compile(_ID_META.mobile.national_number_pattern)
_NOT_DIGIT = re.compile(r"\D+")
_LETTER = re.compile(r"[^\W\d_]")
_LABELS = re.compile(r"(?i)\b(?:no|nomor|nomer|hp|wa|whatsapp|telp|tel|telepon|ponsel|handphone|mobile|ext)\b\.?")


def phone_digits(value: object) -> str:
    """The digits of a phone cell, with a leading '+' kept; numbers stored as numbers work too."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not value.is_integer():
            return ""
        value = int(value)
    text = str(value).strip()
    if _LETTER.search(text) and _LETTER.search(_LABELS.sub(" ", text)):
        # A letter among the digits ("08l2-3456-7890", "0813-3448-17xx") is a typo or a mask:
        # dropping it would make a different, valid-looking number. Labels ("WA:", "HP") are fine.
        return ""
    digits = _NOT_DIGIT.sub("", text)
    if text.startswith("+") or text.startswith("(+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def mobile_from_digits(digits: str) -> str | None:
    """`normalize_phone` for the output of `phone_digits`."""
    # Not cached: phone numbers are nearly all distinct, a cache would only cost memory.
    if not digits:
        return None
    if digits.startswith("+") and not digits.startswith("+62"):
        return _slow_mobile(digits)
    nsn = digits.removeprefix("+")
    if nsn.startswith("62"):
        nsn = nsn[2:]
    elif nsn.startswith("0"):
        nsn = nsn[1:]
    if nsn.startswith("0"):  # "+62 0813..." is a common mistake
        nsn = nsn[1:]
    return "+62" + nsn if _ID_MOBILE.fullmatch(nsn) else None


@lru_cache(maxsize=4096)
def _slow_mobile(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "ID")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# What separates two numbers typed in one cell: "0812-1111-2222 / 0813-3333-4444", "...; ...",
# "... atau ...", one per line.
_PHONE_SEPARATOR = re.compile(r"(?i)\s*(?:[/;,|&\n]|\batau\b|\bdan\b)\s*")
_MIN_PHONE_DIGITS = 7


def phone_parts(text: str) -> list[str]:
    """The numbers typed in one phone cell (each part with at least 7 digits); one part for a
    cell holding one number."""
    parts = [p for p in _PHONE_SEPARATOR.split(text) if sum(c.isdigit() for c in p) >= _MIN_PHONE_DIGITS]
    return parts or [text]


def has_several_phones(value: object) -> bool:
    """A cell with two or more numbers ("0812-1111-2222 / 0813-3333-4444")."""
    return type(value) is str and _PHONE_SEPARATOR.search(value) is not None and len(phone_parts(value)) > 1


def first_mobile(value: object) -> str | None:
    """The first WhatsApp-capable mobile number of a cell that may hold several, in E.164."""
    if type(value) is not str or not has_several_phones(value):
        return normalize_phone(value)
    for part in phone_parts(value):
        number = normalize_phone(part)
        if number is not None:
            return number
    return None


def normalize_phone(value: object) -> str | None:
    """A WhatsApp-capable mobile number in E.164 (+62...), or None (empty, landline, invalid)."""
    return mobile_from_digits(phone_digits(value))


def normalize_phone_reference(value: object) -> str | None:
    """The same verdict through phonenumbers only (the tests compare both)."""
    digits = phone_digits(value)
    if not digits:
        return None
    if not digits.startswith("+"):
        if digits.startswith("62"):
            digits = "+" + digits
        elif digits.startswith("8"):
            digits = "0" + digits
    elif digits.startswith("+620"):
        digits = "+62" + digits[4:]
    return _slow_mobile(digits)


# --- emails ---------------------------------------------------------------------------------

_ATEXT = r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FAST_EMAIL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@(?:{_LABEL}\.)+([a-z]{{2,63}})")
_SPECIAL_TLDS = {"arpa", "invalid", "local", "localhost", "onion", "test", "internal", "alt"}


def normalize_email(value: str) -> str | None:
    """Trimmed, domain lower-cased and syntax-checked (no DNS); None when not a valid address."""
    text = clean_text(value).rstrip(";,.").replace(" ", "")  # "budi@gmail.com." is a common slip
    if "@" not in text or len(text) > 254:
        return None
    local, _, domain = text.rpartition("@")
    text = f"{local}@{domain.lower()}"
    match = _FAST_EMAIL.fullmatch(text)
    if match and len(local) <= 64 and "--" not in domain and match.group(1) not in _SPECIAL_TLDS:
        return text
    return normalize_email_reference(text)


@lru_cache(maxsize=4096)
def normalize_email_reference(text: str) -> str | None:
    try:
        result = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


# --- dates ----------------------------------------------------------------------------------

MONTHS = {
    "januari": 1, "jan": 1, "january": 1, "februari": 2, "feb": 2, "pebruari": 2, "february": 2,
    "maret": 3, "mar": 3, "march": 3, "april": 4, "apr": 4, "mei": 5, "may": 5, "juni": 6,
    "jun": 6, "june": 6, "juli": 7, "jul": 7, "july": 7, "agustus": 8, "agu": 8, "agt": 8,
    "agus": 8, "aug": 8, "august": 8, "september": 9, "sep": 9, "sept": 9, "oktober": 10,
    "okt": 10, "oct": 10, "october": 10, "november": 11, "nov": 11, "nopember": 11,
    "desember": 12, "des": 12, "dec": 12, "december": 12,
}
_EXCEL_EPOCH = date(1899, 12, 30)
_NUMERIC_DATE = re.compile(r"(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})")
_WORD_DATE = re.compile(r"(?:(\d{1,2})\s+)?([a-z]+)\s+(\d{4})")
_MONTH_YEAR = re.compile(r"(\d{1,2})[/.\-](\d{4})")
MIN_YEAR = 1950
MAX_YEAR = 2100


def _make(year: int, month: int, day: int) -> date | None:
    if year < 100:
        year += 2000 if year < 70 else 1900
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(value: object) -> date | None:
    """Excel dates, Excel serial numbers, 13/10/2019, 2019-10-13, 13-10-2019, '13 Oktober 2019',
    'Oktober 2019' (the first of the month). Day first, as Indonesia writes. None if unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _make(value.year, value.month, value.day)
    if isinstance(value, date):
        return _make(value.year, value.month, value.day)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 10_000 < value < 80_000:  # an Excel serial day number (1927..2119)
            return _EXCEL_EPOCH + timedelta(days=int(value))
        return None
    return _parse_date_text(clean_text(value).lower())


@lru_cache(maxsize=100_000)
def _parse_date_text(text: str) -> date | None:
    if not text:
        return None
    text = text.removesuffix(" 00:00:00").removesuffix("t00:00:00")
    m = _NUMERIC_DATE.fullmatch(text)
    if m:
        a, b, c = (int(x) for x in m.groups())
        if len(m.group(1)) == 4:  # 2019-10-13
            return _make(a, b, c)
        return _make(c, b, a)  # 13/10/2019, 13-10-2019
    m = _WORD_DATE.fullmatch(_SPACES.sub(" ", text.replace(",", " ").replace(".", " ")).strip())
    if m and m.group(2) in MONTHS:
        return _make(int(m.group(3)), MONTHS[m.group(2)], int(m.group(1) or 1))
    m = _MONTH_YEAR.fullmatch(text)
    if m:
        return _make(int(m.group(2)), int(m.group(1)), 1)
    if text.replace(".", "", 1).isdigit():
        return parse_date(float(text))
    return None
