""""Kumpulkan data" in headless Chromium, on a phone-sized screen: a PIC picks a unit's workbook
with the file input, sees the preview (upload.js sends it with a progress bar), saves it, and sees
the unit list with each unit's clean %."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from core.clock import utcnow
from monitor.users import add_user
from population.synthetic import write_population_workbook
from tests.factories import make_campaign, make_institution
from tests.monitor.conftest import PASSWORD
from tests.monitor.test_browser import _login, _shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """Read by the live app when it starts (live_app resets the settings)."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def test_pic_uploads_previews_and_saves_a_units_file(
    data_dir: Path, live_app: Any, page: Any, session: Session, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    inst = make_institution(session, name="Kabupaten Katingan", timezone="Asia/Jakarta")
    campaign = make_campaign(session, inst, opens_at=utcnow() - timedelta(days=1),
                             closes_at=utcnow() + timedelta(days=40))
    add_user(session, login="pic.k", password=PASSWORD, role="pic", institution_id=inst.id, actor="test")
    session.commit()
    book = tmp_path / "populasi-dinas.xlsx"
    write_population_workbook(book, seed=3, n_internal=40, n_external=30)

    base = live_app.url
    _login(page, base, "pic.k")
    assert page.url.endswith(f"/pic/c/{campaign.id}")  # its one campaign
    page.get_by_role("link", name="Kumpulkan data").click()
    expect(page.get_by_role("heading", name="Unggah berkas unit kerja")).to_be_visible()
    expect(page.locator("#tabel-unit")).to_contain_text("Belum ada unit kerja")

    page.get_by_label("Pilih berkas .xlsx atau .csv").set_input_files(str(book))
    page.get_by_role("button", name="Unggah dan lihat pratinjau").click()
    page.wait_for_url(re.compile(r"pratinjau="))
    preview = page.locator("#pratinjau")
    expect(preview.get_by_role("heading", name="Pratinjau sebelum disimpan")).to_be_visible()
    expect(preview).to_contain_text("populasi-dinas.xlsx")
    for form in ("pegawai", "pengguna layanan", "penyedia", "eksper"):
        expect(preview.get_by_role("cell", name=form, exact=True)).to_be_visible()
    _shot(page, request, "kumpulkan-data-pratinjau")

    preview.get_by_role("button", name="Simpan", exact=True).click()
    page.wait_for_url(re.compile(r"hasil="))
    expect(page.get_by_role("heading", name="Hasil penyimpanan")).to_be_visible()
    units = page.locator("#tabel-unit")
    expect(units).to_contain_text("populasi-dinas.xlsx")
    expect(units).not_to_contain_text("Belum ada unit kerja")
    first = units.locator("tbody tr").first
    expect(first.locator("td").nth(4)).to_have_text(re.compile(r"^\d{1,3},\d%$"))  # the clean %
    expect(page.locator("#persen-bersih")).to_have_text(re.compile(r"^\d{1,3},\d%$"))
    assert not any(data_dir.rglob("*.xlsx"))  # the uploaded file is not kept once saved
    _shot(page, request, "kumpulkan-data-tersimpan")
