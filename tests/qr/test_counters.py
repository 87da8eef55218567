"""Counters (loket) per unit: created once from the dashboard ("Loket dan poster"), names validated,
a poster per counter whose QR points at that counter, and the registrations and guest-book entries
counted under the counter they came from. (World: tests/qr/conftest.py, counters L1 and L2.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from core.audit import AuditLog
from core.clock import utcnow
from core.models import Person, Unit
from monitor.users import add_user
from qr.counters import CounterError, add_counter, clean_name, clean_visitors
from qr.models import Counter
from tests.monitor.conftest import PASSWORD, csrf_of
from tests.qr.conftest import World
from tests.qr.helpers import decode_pdf, decode_png

BASE = "https://spi.test.example"
NAME = "Loket Prioritas 3"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def users(world: World, session: Session) -> None:
    add_user(session, login="pic.k", password=PASSWORD, role="pic", institution_id=world.institution.id,
             actor="test")
    add_user(session, login="viewer.k", password=PASSWORD, role="viewer",
             institution_id=world.institution.id, actor="test")
    session.commit()


def _login(client: TestClient, user: str) -> TestClient:
    csrf = csrf_of(client, "/pic/login")
    reply = client.post("/pic/login", data={"login": user, "password": PASSWORD, "csrf": csrf, "next": "/pic"},
                        follow_redirects=False)
    assert reply.status_code == 303, reply.text
    return client


def _add(client: TestClient, world: World, name: str = NAME, visitors: str = "120") -> Any:
    url = f"/pic/c/{world.campaign.id}/loket"
    data = {"csrf": csrf_of(client, url), "unit": str(world.unit.id), "nama": name, "pengunjung": visitors}
    return client.post(url, data=data, follow_redirects=True)


def _counters(session: Session) -> list[Counter]:
    session.expire_all()
    return list(session.exec(select(Counter)))


def _row(page: str, name: str) -> list[str]:
    """The cells of one counter's row on the page (tags stripped)."""
    found = re.search(rf'<tr data-loket="{re.escape(name)}">(.*?)</tr>', page, re.S)
    assert found, page
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)]


def test_counter_is_created_once(world: World, users: None, client: TestClient, session: Session) -> None:
    _login(client, "pic.k")
    first = _add(client, world)
    assert first.status_code == 200 and f"{NAME} di Dinas Kependudukan" in first.text
    assert "ditambahkan" in first.text
    again = _add(client, world, name="  loket  prioritas 3 ", visitors="999")
    assert f"{NAME} di Dinas Kependudukan dan Pencatatan Sipil sudah ada" in again.text
    [counter] = _counters(session)
    assert (counter.name, counter.daily_visitors, counter.unit_id) == (NAME, 120, world.unit.id)
    unit = session.get(Unit, world.unit.id)
    assert unit is not None and unit.counters == ["L1", "L2", NAME]  # the registration page knows it
    audits = session.exec(select(AuditLog).where(AuditLog.action == "qr.counter")).all()
    assert [(a.actor, a.details["counter"]) for a in audits] == [("pic.k", NAME)]
    page = client.get(f"/pic/c/{world.campaign.id}/loket").text
    assert _row(page, NAME)[:4] == [NAME, "120", "0", "0"]
    assert _row(page, "L1")[:2] == ["L1", "-"]  # a counter known only from the unit's list


def test_service_is_idempotent_and_keeps_legacy_spelling(world: World, session: Session) -> None:
    unit = session.get(Unit, world.unit.id)
    assert unit is not None
    first = add_counter(session, unit, "l1", "1.500", actor="test")  # L1 was in unit.counters only
    assert first.created and first.counter.name == "L1" and first.counter.daily_visitors == 1500
    second = add_counter(session, unit, "L1", 3, actor="test")
    assert not second.created and second.counter.id == first.counter.id
    session.commit()
    assert len(_counters(session)) == 1 and unit.counters == ["L1", "L2"]


@pytest.mark.parametrize(("raw", "message"), [
    ("Loket\n2", "karakter kontrol"),
    ("Loket\x002", "karakter kontrol"),
    ("Loket\t2", "karakter kontrol"),
    ("Loket\u200b2", "karakter kontrol"),  # zero-width space: invisible
    ("", "wajib diisi"),
    ("   ", "wajib diisi"),
    ("L" * 61, "paling panjang 60 karakter"),
    ("Loket <b>", "hanya boleh berisi huruf, angka"),
    ("Loket 😀", "hanya boleh berisi huruf, angka"),
])
def test_odd_counter_names_are_refused_in_indonesian(raw: str, message: str) -> None:
    with pytest.raises(CounterError, match=message):
        clean_name(raw)


def test_names_and_visitors_that_are_fine() -> None:
    assert clean_name("  Loket   Pelayanan Terpadu (PTSP) #2 ") == "Loket Pelayanan Terpadu (PTSP) #2"
    assert clean_name("Loket Lansia & Difabel") == "Loket Lansia & Difabel"
    assert clean_visitors("1.200") == 1200 and clean_visitors(0) == 0
    for bad in ("", "-3", "12,5", "100001", "seratus", "١٢"):
        with pytest.raises(CounterError, match="angka bulat 0 sampai 100.000"):
            clean_visitors(bad)


def test_bad_name_over_http_says_why_and_stores_nothing(world: World, users: None, client: TestClient,
                                                       session: Session) -> None:
    _login(client, "pic.k")
    url = f"/pic/c/{world.campaign.id}/loket"
    for odd in ("Loket\nA", "Loket\u200bA"):  # BEL and the like: 400 before any route (core.security)
        reply = client.post(url, data={"csrf": csrf_of(client, url), "unit": str(world.unit.id),
                                       "nama": odd, "pengunjung": "10"})
        assert reply.status_code == 422 and "tidak boleh berisi karakter kontrol" in reply.text
    reply = client.post(url, data={"csrf": csrf_of(client, url), "unit": str(world.unit.id),
                                   "nama": "L" * 70, "pengunjung": "10"})
    assert reply.status_code == 422 and "paling panjang 60 karakter" in reply.text
    assert 'value="' + "L" * 70 + '"' in reply.text  # what was typed stays in the form
    reply = client.post(url, data={"csrf": csrf_of(client, url), "unit": "999999", "nama": "A", "pengunjung": "1"})
    assert reply.status_code == 422 and "Pilih unit kerja" in reply.text
    assert _counters(session) == []


def test_viewer_cannot_create_but_downloads(world: World, users: None, client: TestClient,
                                            session: Session) -> None:
    _login(client, "viewer.k")
    url = f"/pic/c/{world.campaign.id}/loket"
    page = client.get(url)
    assert page.status_code == 200 and "Tambah loket" not in page.text and "Poster pendaftaran" in page.text
    reply = client.post(url, data={"csrf": csrf_of(client, url), "unit": str(world.unit.id), "nama": "X",
                                   "pengunjung": "1"})
    assert reply.status_code == 403 and _counters(session) == []
    poster = client.get(f"{url}/poster.png", params={"unit": world.unit.id, "loket": "L2"})
    assert poster.status_code == 200 and decode_png(poster.content) == [f"{BASE}/daftar/KAB-KTG/DUKCAPIL?loket=L2"]


def test_poster_per_counter_points_at_that_counter(world: World, users: None, client: TestClient) -> None:
    _login(client, "pic.k")
    page = _add(client, world).text
    url = f"/pic/c/{world.campaign.id}/loket/poster"
    links = re.findall(r'href="(/pic/c/\d+/loket/poster\.(?:pdf|png)\?[^"]+)"', page)
    assert f"{url}.pdf?unit={world.unit.id}&amp;loket=Loket+Prioritas+3&amp;jenis=pendaftaran" in links
    registration = f"{BASE}/daftar/KAB-KTG/DUKCAPIL?loket={quote_plus(NAME)}"
    guestbook = f"{BASE}/bukutamu/KAB-KTG/DUKCAPIL?loket={quote_plus(NAME)}"
    pdf = client.get(f"{url}.pdf", params={"unit": world.unit.id, "loket": NAME})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]
    assert decode_pdf(pdf.content) == [[registration]]
    png = client.get(f"{url}.png", params={"unit": world.unit.id, "loket": NAME})
    assert png.headers["content-type"] == "image/png" and decode_png(png.content) == [registration]
    book = client.get(f"{url}.pdf", params={"unit": world.unit.id, "loket": NAME, "jenis": "bukutamu"})
    assert decode_pdf(book.content) == [[guestbook]]
    # the short link printed under the code leads to the same counter
    short = re.search(rf"{BASE}/p/([a-z2-7]+)", " ".join(_pdf_text(pdf.content)))
    assert short and client.get(f"/p/{short.group(1)}", follow_redirects=False).headers["location"] == registration
    for params in ({"unit": world.unit.id, "loket": "L9"}, {"unit": 999999, "loket": NAME},
                   {"unit": world.unit.id, "loket": NAME, "jenis": "lain"}):
        assert client.get(f"{url}.pdf", params=params).status_code == 404


def _pdf_text(data: bytes) -> list[str]:
    from tests.qr.helpers import pdf_text

    return pdf_text(data)


def test_guestbook_entry_and_registration_show_under_their_counter(
    world: World, users: None, client: TestClient, session: Session,
) -> None:
    _login(client, "pic.k")
    _add(client, world)
    book = f"/bukutamu/KAB-KTG/DUKCAPIL?loket={quote_plus(NAME)}"
    form = client.get(book).text
    assert f'action="/bukutamu/KAB-KTG/DUKCAPIL?loket={quote_plus(NAME)}"' in form.replace("&amp;", "&")
    entry = {"nama": "Andi Saputra", "wa": "", "email": "andi@contoh.id", "layanan": "Pembuatan KK",
             "tanggal": utcnow().date().isoformat(), "setuju": "1"}
    assert client.post(book, data=entry, follow_redirects=False).status_code == 303
    assert client.post("/bukutamu/KAB-KTG/DUKCAPIL", data={**entry, "email": "budi@contoh.id"},
                       follow_redirects=False).status_code == 303  # the unit's poster: no counter
    registration = {"nama": "Siti Rahmawati", "wa": "0812-3456-7890", "email": "", "layanan": "Pembuatan KTP",
                    "tanggal": utcnow().date().isoformat(), "setuju": "1"}
    reply = client.post(f"/daftar/KAB-KTG/DUKCAPIL?loket={quote_plus(NAME)}", data=registration,
                        follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/s/")
    session.expire_all()
    flags = sorted(str(p.flags) for p in session.exec(select(Person).where(Person.source == "guestbook")))
    assert flags == ["['loket:Loket Prioritas 3']", "[]"]
    page = client.get(f"/pic/c/{world.campaign.id}/loket").text
    assert _row(page, NAME)[:4] == [NAME, "120", "1", "1"]
    assert _row(page, "L1")[2:4] == ["0", "0"]
    loose = re.search(r"Tanpa loket</span></td>(.*?)</tr>", page, re.S)
    assert loose and [re.sub(r"<[^>]+>", "", c).strip()
                      for c in re.findall(r"<td[^>]*>(.*?)</td>", loose.group(1))][:3] == ["-", "0", "1"]
    assert int(session.exec(select(func.count()).select_from(Counter)).one()) == 1


def test_cli_adds_and_lists_counters(world: World, session: Session) -> None:
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    args = ["qr", "counter", "add", "--institution", "KAB-KTG", "--unit", "DUKCAPIL", "--name", NAME,
            "--visitors", "40"]
    first = runner.invoke(app, args, terminal_width=200)
    assert first.exit_code == 0 and "Counter added: Loket Prioritas 3 (DUKCAPIL)" in first.output, first.output
    again = runner.invoke(app, args, terminal_width=200)
    assert again.exit_code == 0 and "already exists" in again.output
    bad = runner.invoke(app, [*args[:-4], "--name", "L" * 61], terminal_width=200)
    assert bad.exit_code == 2 and "paling panjang 60 karakter" in bad.output
    listed = runner.invoke(app, ["qr", "counter", "list", "--institution", "KAB-KTG"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert re.search(r"DUKCAPIL\s+│\s+Loket Prioritas 3\s+│\s+40\s+│\s+0\s+│\s+0", listed.output), listed.output
    assert len(_counters(session)) == 1
