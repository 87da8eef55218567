"""Factories for the shared models (tests build data through these, not by hand)."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from typing import Any

from sqlmodel import Session

from core.assignments import create_assignment, token_of
from core.clock import utcnow
from core.models import Assignment, Campaign, Institution, Person, Unit

_seq = count(1)


def make_institution(session: Session, **kw: Any) -> Institution:
    n = next(_seq)
    obj = Institution(code=kw.pop("code", f"KAB{n:03d}"), name=kw.pop("name", f"Kabupaten Uji {n}"), **kw)
    session.add(obj)
    session.flush()
    return obj


def make_unit(session: Session, institution: Institution, **kw: Any) -> Unit:
    n = next(_seq)
    obj = Unit(
        institution_id=institution.id,  # type: ignore[arg-type]
        code=kw.pop("code", f"U{n:03d}"),
        name=kw.pop("name", f"Dinas Uji {n}"),
        services=kw.pop("services", ["Pembuatan KTP", "Izin Usaha"]),
        counters=kw.pop("counters", ["L1", "L2"]),
        **kw,
    )
    session.add(obj)
    session.flush()
    return obj


def make_person(session: Session, unit: Unit, **kw: Any) -> Person:
    n = next(_seq)
    obj = Person(
        institution_id=unit.institution_id,
        unit_id=unit.id,
        group=kw.pop("group", "internal"),
        name=kw.pop("name", f"Responden {n}"),
        phone=kw.pop("phone", f"+62812{n:08d}"),
        email=kw.pop("email", f"responden{n}@contoh.go.id"),
        **kw,
    )
    session.add(obj)
    session.flush()
    return obj


def make_campaign(session: Session, institution: Institution, **kw: Any) -> Campaign:
    now = utcnow()
    obj = Campaign(
        institution_id=institution.id,  # type: ignore[arg-type]
        year=kw.pop("year", now.year),
        name=kw.pop("name", f"SPI {now.year}"),
        opens_at=kw.pop("opens_at", now - timedelta(days=1)),
        closes_at=kw.pop("closes_at", now + timedelta(days=30)),
        status=kw.pop("status", "open"),
        **kw,
    )
    session.add(obj)
    session.flush()
    return obj


def make_assignment(session: Session, campaign: Campaign, person: Person, **kw: Any) -> tuple[Assignment, str]:
    """Returns the assignment and its raw token."""
    responded_at = kw.pop("responded_at", None)
    assignment = create_assignment(session, campaign, person, **kw)
    assignment.responded_at = responded_at
    session.flush()
    return assignment, token_of(assignment)
