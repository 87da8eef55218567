"""The integrity page in headless Chromium on a phone-sized screen: run the checks, record a
review decision, no identity on the page; screenshots kept in test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from monitor.users import add_user
from responses.models import Response
from tests.fixtures.browser import ARTIFACTS
from tests.integrity.helpers import build_world
from tests.monitor.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _shot(page: Any, request: pytest.FixtureRequest, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    backend = request.node.callspec.params.get("db_url", "db")
    page.screenshot(path=str(ARTIFACTS / f"monitor-{backend}-{name}.png"), full_page=True)


def test_pic_runs_checks_and_reviews_a_response(
    session: Session, live_app: Any, page: Any, request: pytest.FixtureRequest,
) -> None:
    w = build_world(session, n=40)
    add_user(session, login="pic.i", password=PASSWORD, role="pic", institution_id=w.institution.id,
             actor="test")
    session.commit()
    base = live_app.url
    page.goto(f"{base}/pic/login")
    page.get_by_label("Nama pengguna").fill("pic.i")
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="Integritas").click()  # in the dashboard's navigation
    assert page.get_by_role("heading", name="Sinyal integritas seluruh instansi").is_visible()
    page.get_by_role("button", name="Jalankan pemeriksaan sekarang").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text().startswith("Pemeriksaan integritas selesai")
    _shot(page, request, "integritas-checked")

    target = min(w.planted["device"])
    page.get_by_label(f"Keputusan untuk respons #{target}").select_option("excluded")
    page.get_by_label("Catatan (opsional)").first.fill("kiriman beruntun")
    page.locator(f'form[action$="/tinjau/{target}"]').get_by_role("button", name="Simpan").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "Keputusan tinjauan tersimpan."
    row = page.locator("#tabel-ditandai tr", has_text=f"#{target}").first
    assert "Dikeluarkan" in row.inner_text()
    session.expire_all()
    assert session.get(Response, target).review_status == "excluded"  # type: ignore[union-attr]
    _shot(page, request, "integritas-after-review")
