"""Creating institutions and campaigns (used by the CLI and the demo)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from core.clock import ZONES, utcnow
from core.errors import SpibotError
from core.models import Campaign, Institution


class CoreError(SpibotError, ValueError):
    """A user error with a clear message."""


def resolve_timezone(value: str) -> str:
    """'WIB'/'WITA'/'WIT' or an IANA name → IANA name."""
    tz = ZONES.get(value.upper(), value)
    if tz not in ZONES.values():
        raise CoreError(f"Zona waktu tidak dikenal: {value!r}. Pakai WIB, WITA atau WIT.")
    return tz


def get_institution(session: Session, code: str) -> Institution:
    inst = session.exec(select(Institution).where(Institution.code == code)).first()
    if inst is None:
        raise CoreError(
            f"Instansi dengan kode {code!r} tidak ditemukan. Buat dulu: spibot institution add {code} \"Nama\""
        )
    return inst


def add_institution(
    session: Session, code: str, name: str, *, timezone: str = "WIB", kind: str = "kabupaten"
) -> Institution:
    if session.exec(select(Institution).where(Institution.code == code)).first():
        raise CoreError(f"Instansi dengan kode {code!r} sudah ada.")
    inst = Institution(code=code, name=name, kind=kind, timezone=resolve_timezone(timezone), created_at=utcnow())
    session.add(inst)
    session.flush()
    return inst


def create_campaign(
    session: Session, institution: Institution, *, year: int, opens: date, closes: date, name: str | None = None
) -> Campaign:
    """A campaign opening at 00:00 on `opens` and closing at 23:59:59 on `closes`, institution local time."""
    if closes < opens:
        raise CoreError("Tanggal tutup harus sesudah tanggal buka.")
    tz = ZoneInfo(institution.timezone)
    campaign = Campaign(
        institution_id=institution.id,  # type: ignore[arg-type]
        year=year,
        name=name or f"SPI {year}",
        opens_at=datetime.combine(opens, time(0, 0), tz).astimezone(ZoneInfo("UTC")),
        closes_at=datetime.combine(closes, time(23, 59, 59), tz).astimezone(ZoneInfo("UTC")),
        status="open",
        created_at=utcnow(),
    )
    session.add(campaign)
    session.flush()
    return campaign
