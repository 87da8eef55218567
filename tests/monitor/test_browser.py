"""Every dashboard page and export in headless Chromium, on a phone-sized screen; a screenshot of
each page is kept in test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from core.clock import utcnow
from tests.fixtures.browser import ARTIFACTS
from tests.monitor.conftest import PASSWORD, World

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = {
    "ringkasan": "Corong per saluran",
    "unit": "Unit kerja — Internal",
    "masalah": "Pesan gagal per alasan",
    "bot": "Aktivitas bot",
    "qr": "Registrasi QR",
    "kualitas": "Kualitas data",
    "sampel": "Ukuran sampel per kelompok",
    "integritas": "Sinyal integritas seluruh instansi",
}


@pytest.fixture
def fast_refresh(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("MONITOR_REFRESH_SECONDS", "1")


def _login(page: Any, base: str, user: str) -> None:
    page.goto(f"{base}/pic")
    assert "/pic/login" in page.url
    page.get_by_label("Nama pengguna").fill(user)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_load_state()


def _shot(page: Any, request: pytest.FixtureRequest, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    backend = request.node.callspec.params.get("db_url", "db")
    page.screenshot(path=str(ARTIFACTS / f"monitor-{backend}-{name}.png"), full_page=True)


def test_pic_walks_every_page_and_export(
    fast_refresh: None, world: World, live_app: Any, page: Any, session: Session,
    request: pytest.FixtureRequest,
) -> None:
    base, cid = live_app.url, world.a.campaign.id
    _login(page, base, "pic.a")
    assert page.url.endswith(f"/pic/c/{cid}")
    for name, heading in PAGES.items():
        page.goto(f"{base}/pic/c/{cid}/{name}")
        assert page.get_by_role("heading", name=heading).first.is_visible(), name
        assert "Barito" not in page.content()
        _shot(page, request, name)
        for link in page.locator("p.exports a").all()[:2]:  # CSV and .xlsx of the first table
            with page.expect_download() as info:
                link.click()
            download = info.value
            assert download.suggested_filename.endswith((".csv", ".xlsx"))
            assert download.path().stat().st_size > 20
    page.goto(f"{base}/pic/c/{cid}/skor/laporan")
    assert page.get_by_text("Laporan skor tersedia setelah survei ditutup").is_visible()

    # the three lowest units stand out
    page.goto(f"{base}/pic/c/{cid}/unit")
    assert page.locator("#tabel-unit-internal tr.low").count() == 3

    # live: a new response shows up without reloading the page
    cell = page.locator(f'[data-live="unit.{world.a.units[0].id}.internal.responded"]')
    assert cell.inner_text() == "0"
    world.a.assignments[0].responded_at = utcnow()
    session.add(world.a.assignments[0])
    session.commit()
    expect(cell).to_have_text("1", timeout=10_000)

    # the reminder button, end to end through the dispatcher
    page.locator("#tabel-unit-internal tr", has_text="Dinas Katingan 2").get_by_role(
        "button", name="Kirim pengingat").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text().startswith("Pengingat dijadwalkan untuk")
    _shot(page, request, "unit-after-reminder")


def test_admin_national_view_and_users_page(
    world: World, live_app: Any, page: Any, request: pytest.FixtureRequest,
) -> None:
    base = live_app.url
    _login(page, base, "admin")
    assert page.get_by_role("heading", name="Pantauan nasional").is_visible()
    assert page.locator("#tabel-nasional tbody tr").count() == 2
    _shot(page, request, "national")
    page.get_by_role("link", name="Pengguna").click()
    page.get_by_label("Nama pengguna").fill("viewer.baru")
    page.locator("#new-role").select_option("viewer")
    page.locator("#new-inst").select_option(str(world.b.inst.id))
    page.locator("#new-pw").fill("sandi-panjang-baru")
    page.get_by_role("button", name="Tambah").click()
    page.wait_for_load_state()
    assert page.get_by_text("Perubahan tersimpan.").is_visible()
    assert page.locator("#tabel-pengguna", has_text="viewer.baru").count() == 1
    _shot(page, request, "users")
    page.get_by_role("link", name="Log audit").click()
    page.get_by_label("Tindakan").select_option("user.add")
    page.get_by_role("button", name="Tampilkan").click()
    page.wait_for_load_state()
    assert page.locator("#tabel-audit tr", has_text="viewer.baru").count() == 1
    _shot(page, request, "audit")
