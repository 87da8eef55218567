"""Participatory registration over HTTP: success, no enumeration, states, bad input, limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.assignments import find_by_token
from core.clock import utcnow
from core.config import reset_settings
from core.models import Assignment, Person
from core.ratewindow import RedisWindow
from tests.fixtures.redis import RedisServer
from tests.qr.conftest import World, build_world

FORM = "/daftar/KAB-KTG/DUKCAPIL"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app(), base_url="http://testserver") as c:
        yield c


def valid(**kw: str) -> dict[str, str]:
    data = {"nama": "Siti Rahmawati", "wa": "0812-3456-7890", "email": "",
            "layanan": "Pembuatan KTP", "tanggal": utcnow().date().isoformat(), "setuju": "1"}
    data.update(kw)
    return data


def count(session: Session, model: type) -> int:
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(model)).one())


def test_form_shows_unit_services_counter_and_consent(world: World, client: TestClient) -> None:
    page = client.get(f"{FORM}?loket=L2")
    assert page.status_code == 200
    for needed in ["Dinas Kependudukan dan Pencatatan Sipil", "Loket L2", "Pembuatan KK",
                   'for="wa"', 'name="setuju"', "Survei ditutup"]:
        assert needed in page.text
    assert "<script" not in page.text  # works without JavaScript


def test_registration_creates_participatory_assignment_and_opens_questionnaire(
    world: World, client: TestClient, session: Session
) -> None:
    reply = client.post(f"{FORM}?loket=L1", data=valid(email="Siti@Contoh.co.id"),
                        follow_redirects=False)
    assert reply.status_code == 303
    token = reply.headers["location"].removeprefix("/s/")
    assert reply.headers["location"] == f"/s/{token}"
    assignment = find_by_token(session, token)
    assert assignment is not None
    assert (assignment.kind, assignment.counter, assignment.active) == ("participatory", "L1", True)
    assert assignment.campaign_id == world.campaign.id and assignment.unit_id == world.unit.id
    person = session.get(Person, assignment.person_id)
    assert person is not None
    assert (person.source, person.group, person.phone, person.status) == (
        "registration", "external", "+6281234567890", "eligible")
    assert person.email == "Siti@contoh.co.id" and person.service_name == "Pembuatan KTP"


def test_the_form_is_read_urlencoded_or_multipart_first_value_wins(
    world: World, client: TestClient, session: Session
) -> None:
    """The route reads the form itself (qr.router._form_values): a multipart post works too,
    and a repeated field cannot slip a second value past validation."""
    fields = valid(wa="081234567801")
    reply = client.post(FORM, files={k: (None, v) for k, v in fields.items()},
                        follow_redirects=False)
    assert reply.status_code == 303
    body = "&".join(f"{k}={v}" for k, v in valid(wa="081234567802").items()) + "&wa=x&nama="
    reply = client.post(FORM, content=body.encode(), follow_redirects=False,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 303
    phones = set(session.exec(select(Person.phone).where(Person.source == "registration")).all())
    assert phones == {"+6281234567801", "+6281234567802"}
    assert client.post(FORM, content=b"nama=Siti", headers={
        "content-type": "application/x-www-form-urlencoded"}).status_code == 422


def test_same_number_again_looks_the_same_but_is_not_counted(
    world: World, client: TestClient, session: Session
) -> None:
    first = client.post(FORM, data=valid(), follow_redirects=False)
    second = client.post(f"{FORM}?loket=L2", data=valid(nama="Orang Lain", wa="+62 812 3456 7890"),
                         follow_redirects=False)
    # Same status, same shape of answer: the response never tells that the number is known.
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] != second.headers["location"]
    assert second.headers["location"].startswith("/s/")
    session.expire_all()
    active = session.exec(select(Assignment).where(Assignment.active)).all()
    assert len(active) == 1
    dup = find_by_token(session, second.headers["location"].removeprefix("/s/"))
    assert dup is not None and not dup.active
    person = session.get(Person, dup.person_id)
    assert person is not None and (person.status, person.reason) == ("excluded", "duplicate_phone")
    # Both links open the questionnaire alike (nothing tells which number was known) ...
    pages = [client.get(r.headers["location"]) for r in (first, second)]
    assert [p.status_code for p in pages] == [200, 200]
    assert all("Bagian 1 dari" in p.text for p in pages)
    # ... and whatever the duplicate answers is stored as excluded, never counted.
    from responses.service import submit_answers
    from tests.responses.helpers import full_answers, questionnaire

    response = submit_answers(session, dup, full_answers(questionnaire("external")))
    assert (response.flagged, response.review_status) == (True, "excluded")


def test_sampled_number_registering_is_not_counted_twice(
    world: World, client: TestClient, session: Session
) -> None:
    from tests.factories import make_assignment, make_person

    sampled = make_person(session, world.unit, group="external", phone="+6281234567890")
    make_assignment(session, world.campaign, sampled)
    session.commit()
    reply = client.post(FORM, data=valid(), follow_redirects=False)
    assert reply.status_code == 303
    assert count(session, Assignment) == 2
    session.expire_all()
    assert len(session.exec(select(Assignment).where(Assignment.active)).all()) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nama", "", "Mohon isi nama"),
        ("nama", "Budi 123", "Nama hanya boleh"),
        ("wa", "", "Mohon isi nomor WhatsApp"),
        ("wa", "021 555 1234", "Nomor WhatsApp tidak dikenali"),
        ("wa", "08" + "1" * 40, "Nomor WhatsApp tidak dikenali"),
        ("email", "siti@", "Alamat email tidak valid"),
        ("layanan", "Layanan Palsu", "Layanan tidak ada dalam daftar"),
        ("tanggal", "kemarin", "Tanggal tidak dikenali"),
        ("tanggal", "2999-01-01", "tidak boleh setelah hari ini"),
        ("tanggal", "01/01/2001", "paling lama 12 bulan"),
        ("setuju", "", "Mohon centang persetujuan"),
    ],
)
def test_bad_input_is_explained_and_nothing_is_written(
    world: World, client: TestClient, session: Session, field: str, value: str, message: str
) -> None:
    reply = client.post(FORM, data=valid(**{field: value}))
    assert reply.status_code == 422
    assert message in reply.text
    assert f'id="{field}-error"' in reply.text and 'aria-invalid="true"' in reply.text
    assert count(session, Person) == 0 and count(session, Assignment) == 0


def test_hostile_input_is_escaped_and_never_crashes(world: World, client: TestClient,
                                                     session: Session) -> None:
    reply = client.post(FORM, data=valid(nama="<script>alert(1)</script>", wa="\x00" * 5000,
                                         layanan="x" * 100_000, tanggal="\u202e2026"))
    assert reply.status_code == 400  # the NUL bytes: refused before the route (core.security)
    assert "<script>alert(1)</script>" not in reply.text
    reply = client.post(FORM, data=valid(nama="<script>alert(1)</script>", wa="0" * 5000,
                                         layanan="x" * 100_000, tanggal="\u202e2026"))
    assert reply.status_code == 422
    assert "<script>alert(1)</script>" not in reply.text
    assert count(session, Person) == 0


@pytest.mark.parametrize(
    ("kw", "status", "message"),
    [
        ({"status": "closed"}, 410, "Survei sudah ditutup"),
        ({"closes_at": utcnow() - timedelta(hours=1), "opens_at": utcnow() - timedelta(days=9)},
         410, "Survei sudah ditutup"),
        ({"opens_at": utcnow() + timedelta(days=3), "closes_at": utcnow() + timedelta(days=40)},
         403, "Survei belum dibuka"),
    ],
)
def test_closed_and_not_yet_open_campaigns_say_so(
    session: Session, client: TestClient, kw: dict[str, object], status: int, message: str
) -> None:
    build_world(session, **kw)
    assert client.get(FORM).status_code == status
    reply = client.post(FORM, data=valid(), follow_redirects=False)
    assert reply.status_code == status and message in reply.text
    assert count(session, Assignment) == 0


def test_unknown_institution_unit_or_counter(world: World, client: TestClient,
                                             session: Session) -> None:
    assert client.get("/daftar/NOPE/DUKCAPIL").status_code == 404
    assert client.get("/daftar/KAB-KTG/NOPE").status_code == 404
    assert client.post("/daftar/KAB-KTG/NOPE", data=valid()).status_code == 404
    # A counter code typed by hand that the unit does not have counts as "no counter".
    reply = client.post(f"{FORM}?loket=L99", data=valid(), follow_redirects=False)
    assert reply.status_code == 303
    session.expire_all()
    assert session.exec(select(Assignment)).one().counter is None


def test_per_ip_limit(world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch,
                      session: Session) -> None:
    monkeypatch.setenv("QR_IP_LIMIT", "3")
    reset_settings()
    for n in range(3):
        ok = client.post(FORM, data=valid(wa=f"0812345678{n:02d}"), follow_redirects=False)
        assert ok.status_code == 303
    blocked = client.post(FORM, data=valid(wa="081234567899"), follow_redirects=False)
    assert blocked.status_code == 429 and "Terlalu banyak pendaftaran" in blocked.text
    assert count(session, Assignment) == 3
    # Invalid submissions are not counted (a citizen fixing a typo is not locked out) ...
    assert client.post(FORM, data=valid(wa="x")).status_code == 422


def test_per_ip_limit_is_shared_by_workers_through_redis(
    world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch, session: Session,
    redis_server: RedisServer,
) -> None:
    from qr import ratelimit

    monkeypatch.setenv("QR_IP_LIMIT", "2")
    reset_settings()
    workers = [RedisWindow(redis_server.url, "k" * 32, prefix=redis_server.prefix) for _ in "ab"]
    for n, worker in enumerate(workers):  # each request answered by another web worker
        monkeypatch.setattr(ratelimit, "rate_window", lambda w=worker: w)
        ok = client.post(FORM, data=valid(wa=f"0812345678{n:02d}"), follow_redirects=False)
        assert ok.status_code == 303
    blocked = client.post(FORM, data=valid(wa="081234567899"), follow_redirects=False)
    assert blocked.status_code == 429 and "Terlalu banyak pendaftaran" in blocked.text
    assert count(session, Assignment) == 2
    assert redis_server.keys() == [workers[0].redis_key("reg|testclient")]
    for worker in workers:
        worker.close()


def test_per_counter_limit_is_shared_and_per_counter(
    world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch, session: Session
) -> None:
    monkeypatch.setenv("QR_COUNTER_LIMIT", "2")
    reset_settings()
    from core.ratewindow import reset_rate_window

    for n in range(2):
        reset_rate_window()  # as if from different phones' networks
        assert client.post(f"{FORM}?loket=L1", data=valid(wa=f"0812345678{n:02d}"),
                           follow_redirects=False).status_code == 303
    blocked = client.post(f"{FORM}?loket=L1", data=valid(wa="081234567850"))
    assert blocked.status_code == 429 and "Loket ini" in blocked.text
    other = client.post(f"{FORM}?loket=L2", data=valid(wa="081234567851"), follow_redirects=False)
    assert other.status_code == 303
    assert count(session, Assignment) == 3


def test_choose_unit_lists_public_units(world: World, client: TestClient,
                                        session: Session) -> None:
    from tests.factories import make_unit

    make_unit(session, world.institution, code="INSP", name="Inspektorat", serves_public=False)
    session.commit()
    page = client.get("/daftar/KAB-KTG")
    assert page.status_code == 200
    assert "/daftar/KAB-KTG/DUKCAPIL" in page.text and "Inspektorat" not in page.text
    assert client.get("/daftar/NOPE").status_code == 404


def test_page_follows_a_campaign_closed_in_this_process_at_once(
    world: World, client: TestClient, session: Session
) -> None:
    assert client.get(FORM).status_code == 200  # the view is cached now
    world.campaign.status = "closed"
    session.add(world.campaign)
    session.commit()
    page = client.get(FORM)
    assert page.status_code == 410 and "Survei sudah ditutup" in page.text


def _close_elsewhere(session: Session, world: World) -> None:
    """Close the campaign as another process would: a plain UPDATE, no ORM events here."""
    from sqlalchemy import update

    from core.models import Campaign

    session.execute(update(Campaign).where(col(Campaign.id) == world.campaign.id)
                    .values(status="closed"))
    session.commit()


def test_campaign_closed_elsewhere_takes_no_registration(
    world: World, client: TestClient, session: Session
) -> None:
    assert client.get(FORM).status_code == 200
    _close_elsewhere(session, world)
    assert client.get(FORM).status_code == 200  # the cached view, at most TTL_SECONDS old
    reply = client.post(FORM, data=valid(), follow_redirects=False)
    assert reply.status_code == 410 and "Survei sudah ditutup" in reply.text  # re-read on write
    assert count(session, Assignment) == 0 and count(session, Person) == 0
    assert client.get(FORM).status_code == 410  # the refused POST dropped the stale view


def test_page_follows_a_campaign_closed_elsewhere_within_the_ttl(
    world: World, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qr import cache

    assert client.get(FORM).status_code == 200
    _close_elsewhere(session, world)
    assert client.get(FORM).status_code == 200
    later = cache.time.monotonic() + cache.TTL_SECONDS + 0.1
    monkeypatch.setattr(cache.time, "monotonic", lambda: later)
    assert client.get(FORM).status_code == 410


def test_page_closes_on_the_second_whatever_the_cache_holds(
    world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qr import service

    assert client.get(FORM).status_code == 200
    assert world.campaign.closes_at is not None
    after_close = world.campaign.closes_at + timedelta(seconds=1)
    monkeypatch.setattr(service, "utcnow", lambda: after_close)
    assert client.get(FORM).status_code == 410


def test_unknown_codes_are_not_cached(world: World, client: TestClient) -> None:
    from qr import cache

    for n in range(20):
        assert client.get(f"/daftar/KAB-KTG/NOPE{n}").status_code == 404
        assert client.get(f"/daftar/NOPE{n}/DUKCAPIL").status_code == 404
    assert len(cache._views) == 0
    assert client.get(FORM).status_code == 200
    assert len(cache._views) == 1
