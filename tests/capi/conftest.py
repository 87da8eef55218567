"""Fixtures for the interviewers' CAPI: one institution with a unit, an open campaign, sampled
respondents, a counter, an interviewer with a PIN and three respondents handed to them; a second
institution's interviewer to check scoping; the app client and a PIN login helper."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

import capi
from core.models import Assignment, Campaign, Institution, Unit
from monitor.auth import hash_pin
from monitor.models import Role, User
from monitor.users import add_user
from qr import Counter
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit

PIN = "482915"
DEVICE = "tablet-0000-aaaa-1111"
PASSWORD = "rahasia-yang-panjang-1"


@dataclass
class Field:
    inst: Institution
    unit: Unit
    campaign: Campaign
    counter: Counter
    interviewer: User
    handed: list[Assignment] = field(default_factory=list)
    other: list[Assignment] = field(default_factory=list)  # sampled, not handed to the interviewer


def interviewer(session: Session, login: str, inst: Institution, pin: str = PIN) -> User:
    user = add_user(session, login=login, password=PASSWORD, role=Role.interviewer, institution_id=inst.id,
                    name=f"Pewawancara {login}", actor="test")
    user.pin_hash = hash_pin(pin)
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def world(session: Session) -> Field:
    inst = make_institution(session, name="Kabupaten Sintang")
    unit = make_unit(session, inst, name="Dinas Kependudukan")
    campaign = make_campaign(session, inst)
    counter = Counter(institution_id=inst.id, unit_id=unit.id, name="Loket 1", daily_visitors=120)  # type: ignore[arg-type]
    session.add(counter)
    people = [make_person(session, unit, phone=None, email=None) for _ in range(5)]
    assignments = [make_assignment(session, campaign, p)[0] for p in people]
    user = interviewer(session, "wawan", inst)
    add_user(session, login="pic.s", password=PASSWORD, role=Role.pic, institution_id=inst.id, actor="test")
    capi.assign(session, [a.id for a in assignments[:3]], user.id, inst.id, "test")  # type: ignore[misc, arg-type]
    session.commit()
    return Field(inst, unit, campaign, counter, user, assignments[:3], assignments[3:])


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


def pin_login(client: TestClient, login: str = "wawan", pin: str = PIN, device: str = DEVICE) -> Any:
    return client.post("/api/capi/login", json={"login": login, "pin": pin}, headers={"X-Capi-Device": device})


@pytest.fixture
def app_session(client: TestClient, world: Field) -> dict[str, str]:
    """The interviewer logged in on DEVICE: the headers every later API call sends."""
    res = pin_login(client)
    assert res.status_code == 200, res.text
    return {"X-Capi-Device": DEVICE, "X-CSRF-Token": res.json()["csrf"]}
