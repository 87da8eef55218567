"""The guest book adds service users to the population; registration figures per counter/day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.clock import utcnow
from core.models import Assignment, Person
from qr.stats import registrations
from tests.factories import make_person, make_unit
from tests.qr.conftest import World

BOOK = "/bukutamu/KAB-KTG/DUKCAPIL"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app()) as c:
        yield c


def entry(**kw: str) -> dict[str, str]:
    data = {"nama": "Andi Saputra", "wa": "", "email": "andi@contoh.id", "layanan": "Pembuatan KK",
            "tanggal": utcnow().date().isoformat(), "setuju": "1"}
    data.update(kw)
    return data


def test_guestbook_adds_an_eligible_service_user(world: World, client: TestClient,
                                                  session: Session) -> None:
    assert "Buku Tamu" in client.get(BOOK).text
    reply = client.post(BOOK, data=entry(), follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == f"{BOOK}/terima-kasih"
    assert "sudah dicatat" in client.get(reply.headers["location"]).text
    person = session.exec(select(Person)).one()
    assert (person.source, person.group, person.status, person.unit_id) == (
        "guestbook", "external", "eligible", world.unit.id)
    assert person.phone is None and person.email == "andi@contoh.id"
    assert session.exec(select(Assignment)).first() is None  # population only, no survey yet


def test_guestbook_limits_entries_per_ip(world: World, client: TestClient, session: Session,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from core.config import reset_settings

    monkeypatch.setenv("QR_IP_LIMIT", "2")
    reset_settings()
    assert client.post(BOOK, data=entry(email=""), follow_redirects=False).status_code == 422
    for n in range(2):  # the invalid entry above was not counted
        reply = client.post(BOOK, data=entry(email=f"tamu{n}@contoh.id"), follow_redirects=False)
        assert reply.status_code == 303
    blocked = client.post(BOOK, data=entry(email="tamu9@contoh.id"), follow_redirects=False)
    assert blocked.status_code == 429
    assert len(session.exec(select(Person)).all()) == 2


def test_guestbook_needs_a_contact_and_explains(world: World, client: TestClient,
                                                 session: Session) -> None:
    reply = client.post(BOOK, data=entry(email=""))
    assert reply.status_code == 422 and "nomor WhatsApp atau email" in reply.text
    assert session.exec(select(Person)).first() is None


def test_guestbook_marks_own_employees_excluded(world: World, client: TestClient,
                                                session: Session) -> None:
    make_person(session, world.unit, group="internal", phone="+6281299990000", email=None)
    session.commit()
    assert client.post(BOOK, data=entry(wa="0812 9999 0000", email=""),
                       follow_redirects=False).status_code == 303
    person = session.exec(select(Person).where(Person.source == "guestbook")).one()
    assert (person.status, person.reason) == ("excluded", "is_employee")


def test_guestbook_works_without_an_open_campaign(session: Session, client: TestClient) -> None:
    from tests.qr.conftest import build_world

    build_world(session, status="closed")  # the population is built between campaigns too
    assert client.post(BOOK, data=entry(), follow_redirects=False).status_code == 303


def test_registrations_per_unit_counter_and_day(world: World, client: TestClient,
                                                session: Session) -> None:
    quiet = make_unit(session, world.institution, code="PTSP", name="DPMPTSP", counters=["A"])
    session.commit()
    for n, loket in enumerate(["L1", "L1", "L2"]):
        data = {"nama": "Warga", "wa": f"08123400{n:04d}", "layanan": "Pembuatan KTP",
                "tanggal": utcnow().date().isoformat(), "setuju": "1"}
        assert client.post(f"/daftar/KAB-KTG/DUKCAPIL?loket={loket}", data=data,
                           follow_redirects=False).status_code == 303
    # One registration made yesterday (Jakarta time) and a duplicate that must not count.
    session.expire_all()
    old = session.exec(select(Assignment).where(Assignment.counter == "L2")).one()
    old.created_at = utcnow() - timedelta(days=1)
    session.add(old)
    session.commit()
    client.post("/daftar/KAB-KTG/DUKCAPIL?loket=L1", data={
        "nama": "Warga", "wa": "081234000000", "layanan": "Pembuatan KTP",
        "tanggal": utcnow().date().isoformat(), "setuju": "1"})

    rows = registrations(session, world.institution.id)  # type: ignore[arg-type]
    got = {(r.unit_code, r.counter, r.count) for r in rows}
    assert got == {("DUKCAPIL", "L1", 2), ("DUKCAPIL", "L2", 1), ("PTSP", "A", 0)}
    l2 = next(r for r in rows if r.counter == "L2")
    l1 = next(r for r in rows if r.counter == "L1")
    assert l2.day is not None and l1.day is not None and l2.day < l1.day
    assert next(r for r in rows if r.unit_id == quiet.id).day is None
    assert registrations(session, world.institution.id, world.campaign.id) == rows  # type: ignore[arg-type]
    assert registrations(session, 10_000) == []
