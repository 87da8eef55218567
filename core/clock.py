"""Time: aware UTC inside, Indonesian local time (WIB/WITA/WIT) only at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from core.numbers import LOCALE

ZONES = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}
# Every IANA zone of Indonesia, by its offset: an institution set to Asia/Pontianak still reads WIB.
ZONE_LABELS = {v: k for k, v in ZONES.items()} | {
    "Asia/Pontianak": "WIB", "Asia/Ujung_Pandang": "WITA",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return `value` as aware UTC; naive values (as SQLite hands them back) are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime, tz: str) -> datetime:
    return as_utc(value).astimezone(ZoneInfo(tz))


def zone_label(tz: str) -> str:
    return ZONE_LABELS.get(tz, tz)


BULAN = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
         "September", "Oktober", "November", "Desember"]


def format_date_id(value: date | datetime, tz: str | None = None) -> str:
    """'31 Oktober 2026' (Babel, id_ID; in the institution's zone when a datetime and tz are given)."""
    if isinstance(value, datetime) and tz:
        value = local(value, tz)
    return format_date(value, "d MMMM y", locale=LOCALE)


def format_datetime_id(value: datetime, tz: str) -> str:
    """'5 Februari 2027 14.30 WITA'."""
    loc = local(value, tz)
    return f"{format_date_id(loc)} {format_time(loc, 'HH.mm', locale=LOCALE)} {zone_label(tz)}"


def parse_hhmm(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))
