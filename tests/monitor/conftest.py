"""Fixtures for the dashboard: two institutions with units, people, a campaign each, outbox rows,
and one user per role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from core.clock import utcnow
from core.models import Assignment, Campaign, Institution, Unit
from monitor.users import add_user
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit

PASSWORD = "rahasia-yang-panjang-1"


@dataclass
class Side:
    inst: Institution
    campaign: Campaign
    units: list[Unit]
    assignments: list[Assignment] = field(default_factory=list)


@dataclass
class World:
    a: Side
    b: Side


def add_outbox(session: Session, assignment: Assignment, *, channel: str = "whatsapp",
               status: str = "sent", error_code: str | None = None, error_class: str | None = None,
               purpose: str = "invitation", wave: int = 1, at_offset_days: int = 0) -> Any:
    from dispatch.models import Outbox

    now = utcnow() - timedelta(days=at_offset_days)
    row = Outbox(
        key=f"{assignment.id}:{channel}:{purpose}:{wave}", channel=channel, purpose=purpose, wave=wave,
        to_address="+6281200000000", status=status, error_code=error_code, error_class=error_class,
        next_attempt_at=now, created_at=now, updated_at=now,
        sent_at=now if status in ("sent", "delivered", "read") else None,
        campaign_id=assignment.campaign_id, assignment_id=assignment.id, unit_id=assignment.unit_id,
    )
    session.add(row)
    return row


def _side(session: Session, name: str, n_units: int = 4) -> Side:
    inst = make_institution(session, name=name)
    campaign = make_campaign(session, inst)
    units = [make_unit(session, inst, name=f"Dinas {name} {i}") for i in range(n_units)]
    side = Side(inst, campaign, units)
    for i, unit in enumerate(units):
        # unit i: 5 sampled internal, i of them responded; one unusable record in unit 0
        for j in range(5):
            person = make_person(session, unit)
            a, _ = make_assignment(session, campaign, person,
                                   responded_at=utcnow() if j < i else None)
            side.assignments.append(a)
        make_person(session, unit, group="external")
    make_person(session, units[0], status="unusable", reason="no_contact", phone=None)
    session.flush()
    return side


@pytest.fixture
def world(session: Session) -> World:
    a = _side(session, "Katingan")
    b = _side(session, "Barito", n_units=2)
    for side in (a, b):
        for k, asg in enumerate(side.assignments):
            status = ["delivered", "read", "sent", "failed"][k % 4]
            code = "63024" if status == "failed" else None
            add_outbox(session, asg, status=status, error_code=code,
                       error_class="not_whatsapp" if code else None, at_offset_days=3)
    add_user(session, login="admin", password=PASSWORD, role="admin", institution_id=None, actor="test")
    add_user(session, login="pic.a", password=PASSWORD, role="pic", institution_id=a.inst.id,
             name="PIC Katingan", actor="test")
    add_user(session, login="viewer.a", password=PASSWORD, role="viewer", institution_id=a.inst.id,
             actor="test")
    add_user(session, login="pic.b", password=PASSWORD, role="pic", institution_id=b.inst.id, actor="test")
    session.commit()
    return World(a, b)


def login(client: TestClient, user: str, password: str = PASSWORD) -> Any:
    page = client.get("/pic/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    return client.post("/pic/login", data={"login": user, "password": password, "csrf": csrf.group(1),
                                           "next": "/pic"}, follow_redirects=False)


def csrf_of(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def as_user(client: TestClient) -> Any:
    def _as(user: str) -> TestClient:
        response = login(client, user)
        assert response.status_code == 303, response.text
        return client

    return _as


@pytest.fixture(autouse=True)
def pages_wait_for_their_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    """Monitor pages in tests wait for a rebuild however slow the machine (a loaded CI box took > 0.1 s and
    showed the previous figures); the bounded wait itself is tested with explicit `wait=`."""
    import sys

    import monitor.router  # noqa: F401 - imports the route modules in their order (they are circular)

    monkeypatch.setattr(sys.modules["monitor.integrity_routes"], "INDEX_WAIT", 30.0)
    monkeypatch.setattr(sys.modules["monitor.extra_routes"], "REPORT_WAIT", 30.0)
