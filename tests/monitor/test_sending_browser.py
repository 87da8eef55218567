"""The "Pengiriman" panel in headless Chromium, as a PIC on a phone-sized screen: the plan line (live),
the next wave's preview, pause with its banner, resume, and cancel through its confirmation page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from dispatch.models import Outbox
from tests.monitor.conftest import World, add_outbox
from tests.monitor.test_browser import _login, _shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def sending_settings(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """Read by the live app when it starts (live_app resets the settings)."""
    monkeypatch.setenv("MONITOR_REFRESH_SECONDS", "1")
    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", "250")


def test_pic_pauses_resumes_and_cancels_from_the_panel(
    sending_settings: None, world: World, live_app: Any, page: Any, session: Session,
    request: pytest.FixtureRequest,
) -> None:
    for a in world.a.assignments[:5]:  # pending reminders, all to one number
        add_outbox(session, a, status="pending", purpose="reminder", wave=2)
    session.commit()
    base, cid = live_app.url, world.a.campaign.id
    _login(page, base, "pic.a")
    assert page.url.endswith(f"/pic/c/{cid}")  # the PIC lands on the campaign overview

    panel = page.locator("#pengiriman")
    expect(panel.get_by_role("heading", name="Pengiriman")).to_be_visible()
    plan = page.locator("#rencana")
    expect(plan).to_contain_text("Undangan terakhir terkirim ±")
    expect(plan).to_contain_text("1 nomor menunggu; batas WhatsApp 250 nomor per 24 jam")
    expect(panel.get_by_role("heading", name="Gelombang berikutnya: undangan")).to_be_visible()
    expect(page.locator("#pratinjau")).to_contain_text("WhatsApp:")
    expect(page.locator("#pratinjau")).to_contain_text("Email:")
    expect(page.locator("#pratinjau")).to_contain_text("Perkiraan biaya WhatsApp:")
    expect(page.locator("#dijeda")).to_have_text("Tidak ada; pengiriman berjalan.")
    expect(page.locator("section.banner")).to_have_count(0)
    _shot(page, request, "pengiriman")

    # live: another number starts waiting; the plan line follows without a reload
    row = add_outbox(session, world.a.assignments[5], status="pending", purpose="reminder", wave=3)
    row.to_address = "+6281299999999"
    session.commit()
    expect(plan).to_contain_text("2 nomor menunggu", timeout=10_000)

    # pause: the banner appears (on every page) and the panel offers "Lanjutkan"
    page.get_by_role("button", name="Jeda pengiriman").click()
    page.wait_for_load_state()
    banner = page.locator("section.banner")
    expect(banner).to_contain_text(f"Pengiriman kampanye {world.a.campaign.name} dijeda oleh pic.a")
    expect(banner).to_contain_text("tidak ada yang hilang")
    expect(page.get_by_role("status")).to_contain_text("Pengiriman kampanye dijeda.")
    expect(page.locator("#dijeda")).to_contain_text("dijeda oleh pic.a")
    _shot(page, request, "pengiriman-dijeda")
    page.get_by_role("link", name="Unit kerja").click()
    expect(page.locator("section.banner")).to_contain_text("dijeda oleh pic.a")
    page.locator("section.banner").get_by_role("link", name="Buka panel Pengiriman").click()

    # resume: the banner is gone
    page.get_by_role("button", name="Lanjutkan", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("section.banner")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Pengiriman kampanye dilanjutkan")
    expect(page.get_by_role("button", name="Jeda pengiriman")).to_be_visible()

    # cancel: a confirmation page whose box must be ticked
    page.get_by_role("button", name="Batalkan pesan yang menunggu").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Batalkan pesan yang menunggu")).to_be_visible()
    expect(page.get_by_text("6 pesan masih menunggu")).to_be_visible()
    confirm = page.get_by_role("button", name="Ya, batalkan pesan yang menunggu")
    confirm.click()  # not ticked: the browser refuses to submit the form
    assert "/pengiriman/batalkan" in page.url
    page.get_by_label("Saya mengerti").check()
    _shot(page, request, "pengiriman-batalkan")
    confirm.click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("6 pesan yang menunggu dibatalkan")
    session.rollback()
    assert not list(session.exec(select(Outbox).where(Outbox.status == "pending")))
