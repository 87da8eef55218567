"""Opt-in proof (issue 25): the source and time of each contact's consent, as Meta requires.

Three sources: the institution's population list (which unit and which uploaded file), the QR
registration (the consent checkbox's text and version, `bot/data/consent.yaml`), or the
respondent's own first message to the SPI number. Recorded (`record_for_phone`) when a case or a
call-centre conversation opens, shown on both views, deleted by the purge with the campaign.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.models import ContactConsent, InboundMessage
from core.datafiles import read_yaml
from core.db import insert_for
from core.models import Person, Unit

DATA = Path(__file__).resolve().parent / "data" / "consent.yaml"
REGISTRATION_SOURCES = ("registration", "guestbook")


@lru_cache
def texts() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA)
    return data


def label(source: str) -> str:
    return str(texts()["labels"].get(source, source))


def _proofs(session: Session, person: Person, phone: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if person.source in REGISTRATION_SOURCES:
        qr = texts()["qr_registration"]
        found.append({"source": "qr_registration", "consented_at": person.created_at,
                      "detail": f"Kotak persetujuan versi {qr['version']}: \"{str(qr['text']).strip()}\""})
    else:
        unit = session.get(Unit, person.unit_id) if person.unit_id else None
        where = f"unit {unit.name} ({unit.code})" if unit else "instansi"
        found.append({"source": "population_list", "consented_at": person.created_at,
                      "detail": f"Daftar populasi {where}, berkas {person.source_file or '-'}"})
    first = session.exec(select(func.min(InboundMessage.received_at))
                         .where(InboundMessage.from_number == phone)).one()
    if first is not None:
        found.append({"source": "respondent_message", "consented_at": first,
                      "detail": "Responden menulis lebih dulu ke nomor WhatsApp SPI"})
    return found


def record_for_phone(session: Session, phone: str, now: datetime) -> int:
    """Store the proofs of every person with this number (once each); returns rows added."""
    added = 0
    for person in session.exec(select(Person).where(Person.phone == phone)).all():
        for proof in _proofs(session, person, phone):
            stmt = insert_for(session, ContactConsent).values(
                person_id=person.id, address=phone, recorded_at=now, **proof)
            result = session.exec(stmt.on_conflict_do_nothing(
                index_elements=["person_id", "address", "source"]))
            added += int(result.rowcount or 0)
    return added


def proofs(session: Session, *, phone: str | None = None, person_id: int | None = None) -> list[ContactConsent]:
    """The stored proofs for a number or a person, oldest consent first."""
    query = select(ContactConsent)
    if phone is not None:
        query = query.where(ContactConsent.address == phone)
    if person_id is not None:
        query = query.where(ContactConsent.person_id == person_id)
    rows = list(session.exec(query.order_by(col(ContactConsent.consented_at), col(ContactConsent.id))).all())
    return rows
