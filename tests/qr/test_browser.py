"""A citizen at the counter, in headless Chromium on a phone-sized screen, without JavaScript."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from core.assignments import find_by_token
from core.models import Person
from tests.fixtures.server import LiveServer
from tests.qr.conftest import World

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_scan_register_and_questionnaire_opens(world: World, live_app: LiveServer, browser: Any,
                                               session: Session) -> None:
    # The short link printed under the code leads to the same form as the code itself.
    httpx.get(f"{live_app.url}/qr/KAB-KTG/DUKCAPIL/poster.pdf?loket=L1")
    from qr.models import ShortLink

    code = session.exec(select(ShortLink)).one().code
    session.rollback()  # end the read transaction: later reads must see the server's writes
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="id-ID",
                                  java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_app.url}/p/{code}")
        assert page.url == f"{live_app.url}/daftar/KAB-KTG/DUKCAPIL?loket=L1"
        assert page.get_by_role("heading", name="Loket L1").is_visible()

        # A first try with mistakes: messages next to the fields, what was typed is kept.
        page.get_by_label("Nama lengkap").fill("Siti Rahmawati")
        page.get_by_label("Nomor WhatsApp").fill("12345")
        page.get_by_role("button", name="Daftar dan isi survei").click()
        assert page.get_by_role("alert").is_visible()
        assert page.get_by_text("Nomor WhatsApp tidak dikenali").is_visible()
        assert page.get_by_text("Mohon centang persetujuan").is_visible()
        assert page.get_by_label("Nama lengkap").input_value() == "Siti Rahmawati"

        page.get_by_label("Nomor WhatsApp").fill("0812 3456 7890")
        page.get_by_label("Layanan yang Anda terima").select_option("Pembuatan KK")
        page.get_by_label("Saya bersedia").check()
        page.get_by_role("button", name="Daftar dan isi survei").click()
        page.wait_for_url("**/s/**")
        token = urlsplit(page.url).path.rsplit("/s/", 1)[1]  # the form may add ?p=<page>
        session.rollback()
        assignment = find_by_token(session, token)
        assert assignment is not None and assignment.kind == "participatory"
        assert assignment.counter == "L1"
        person = session.get(Person, assignment.person_id)
        assert person is not None and person.service_name == "Pembuatan KK"
    finally:
        context.close()


def test_guestbook_in_the_browser(world: World, live_app: LiveServer, page: Any,
                                  session: Session) -> None:
    page.goto(f"{live_app.url}/bukutamu/KAB-KTG/DUKCAPIL")
    page.get_by_label("Nama lengkap").fill("Andi Saputra")
    page.get_by_role("textbox", name="Email (boleh dikosongkan)").fill("andi@contoh.id")
    page.get_by_label("Layanan yang Anda terima").select_option("Akta Kelahiran")
    page.get_by_label("Saya setuju").check()
    page.get_by_role("button", name="Kirim").click()
    page.wait_for_url("**/terima-kasih")
    assert page.get_by_text("sudah dicatat").is_visible()
    session.rollback()
    assert session.exec(select(Person).where(Person.source == "guestbook")).one().email == "andi@contoh.id"
