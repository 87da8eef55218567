"""Validating the registration and guest-book forms: every field, with a clear Indonesian
message per field. Nothing is written unless the whole form is valid."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from core.datafiles import read_yaml
from population import normalize_phone

MAX_NAME = 100
MAX_SERVICE = 150
MAX_FIELD = 300  # anything longer is refused before parsing
_NAME_OK = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ .,'’`\-])*$")


@lru_cache
def messages() -> dict[str, Any]:
    path = Path(__file__).parent / "data" / "messages.yaml"
    data: dict[str, Any] = read_yaml(path)
    return data


def _msg(key: str) -> str:
    return str(messages()["errors"][key])


@dataclass(frozen=True)
class VisitorForm:
    """A valid registration or guest-book entry."""

    name: str
    phone: str | None  # E.164
    email: str | None
    service: str
    service_date: date


def clean_text(value: str | None) -> str:
    """Strip, normalise (NFC) and collapse whitespace; drop control characters."""
    text = unicodedata.normalize("NFC", (value or "")[: MAX_FIELD * 2])
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in " \t")
    return " ".join(text.split())


def parse_phone(value: str) -> str | None:
    """An Indonesian (or international) mobile number as E.164, or None if not one.

    The same rules as the population import (one way to read a phone number)."""
    return normalize_phone(value)


def parse_date(value: str) -> date | None:
    """ISO (from <input type=date>) or Indonesian day-first text: 31/10/2026, 31-10-2026."""
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    return None


def _name(data: Mapping[str, str], errors: dict[str, str]) -> str:
    name = clean_text(data.get("nama"))
    if not name:
        errors["nama"] = _msg("name_required")
    elif len(name) > MAX_NAME:
        errors["nama"] = _msg("name_too_long")
    elif not _NAME_OK.match(name):
        errors["nama"] = _msg("name_invalid")
    return name


def _contact(data: Mapping[str, str], errors: dict[str, str],
             phone_required: bool) -> tuple[str | None, str | None]:
    raw_phone = clean_text(data.get("wa"))
    raw_email = clean_text(data.get("email"))
    phone = email = None
    if raw_phone:
        phone = parse_phone(raw_phone)
        if phone is None:
            errors["wa"] = _msg("phone_invalid")
    elif phone_required:
        errors["wa"] = _msg("phone_required")
    if raw_email:
        try:
            email = validate_email(raw_email, check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = _msg("email_invalid")
        if email and len(email) > 254:
            errors["email"] = _msg("email_invalid")
    if not phone_required and not raw_phone and not raw_email:
        errors["wa"] = _msg("contact_required")
    return phone, email


def _service(data: Mapping[str, str], errors: dict[str, str], services: list[str]) -> str:
    service = clean_text(data.get("layanan"))
    if not service:
        errors["layanan"] = _msg("service_required")
    elif services and service not in services:
        errors["layanan"] = _msg("service_invalid")
    elif len(service) > MAX_SERVICE:
        errors["layanan"] = _msg("service_too_long")
    return service


def _date(data: Mapping[str, str], errors: dict[str, str], today: date) -> date | None:
    raw = clean_text(data.get("tanggal"))
    if not raw:
        errors["tanggal"] = _msg("date_required")
        return None
    value = parse_date(raw)
    if value is None:
        errors["tanggal"] = _msg("date_invalid")
    elif value > today:
        errors["tanggal"] = _msg("date_future")
    elif value < today - timedelta(days=366):
        errors["tanggal"] = _msg("date_too_old")
    return value


def parse_visitor(
    data: Mapping[str, str], *, services: list[str], today: date, phone_required: bool = True
) -> tuple[VisitorForm | None, dict[str, str]]:
    """The valid form, or None and one message per field name (nama, wa, email, layanan,
    tanggal, setuju). `today` is the institution's local date."""
    errors: dict[str, str] = {}
    name = _name(data, errors)
    phone, email = _contact(data, errors, phone_required)
    service = _service(data, errors, services)
    service_date = _date(data, errors, today)
    if data.get("setuju") not in ("1", "ya", "on"):
        errors["setuju"] = _msg("consent_required")
    if errors or service_date is None:
        return None, errors
    return VisitorForm(name, phone, email, service, service_date), errors
