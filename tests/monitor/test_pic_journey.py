"""The whole journey in headless Chromium, without a terminal (issue #20): from an empty system to the
invitations in the sandbox outbox, on SQLite and PostgreSQL.

Only the admin account exists beforehand (as `spibot user add` makes it). In the browser: the admin
creates the institution and its PIC account; the PIC logs in, creates the campaign, uploads one
unit's population workbook (KPK form headers, internal and external sheets), checks the preview and
saves it (a second "Simpan" of the same file changes nothing), draws the sample through its
confirmation page, adds a counter (loket) and sees its poster link, launches the invitations through
the confirmation page and sees the "Pengiriman" panel. Then the dispatch worker runs once (as
`spibot worker --once`) and the provider side is counted: exactly one sandbox invitation per sampled
respondent with a contact, none twice. Every page on the way is in Indonesian, and a screenshot of
each step is kept in test-artifacts/.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from core.clock import local, utcnow
from core.config import reset_settings
from core.models import Assignment, Institution, Person
from dispatch.models import Outbox
from monitor.users import add_user
from population.synthetic import footer_rows, generate_records
from tests.fixtures.browser import ARTIFACTS
from tests.monitor.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]

TZ = "Asia/Jakarta"
UNIT = "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu"
PIC_LOGIN, PIC_PASSWORD = "pic.katingan", "sandi-pic-katingan-2026"
# What never belongs on a page of the Indonesian dashboard: server errors, English framework pages.
NOT_INDONESIAN = ("Internal Server Error", "Traceback", "Not Found", "Method Not Allowed", "Unprocessable",
                  '"detail"', "Bad Request", "Forbidden")

# The KPK forms' column headers (Lampiran: populasi responden internal / eksternal).
INTERNAL = [("no", "No"), ("unit", "Unit Kerja/ SKPD/ OPD"), ("name", "Nama Pegawai"),
            ("start", "Tanggal mulai bekerja di unit kerja"), ("position", "Jabatan"),
            ("phone", "No. HP (WA) aktif"), ("email", "E-mail aktif"), ("note", "Keterangan")]
EXTERNAL = [("no", "No"), ("unit", "Unit Kerja Tempat Mengurus Layanan Publik"),
            ("service", "Nama Layanan yang diterima"), ("sdate", "Tanggal/ Bulan/ Tahun Mengurus Layanan"),
            ("name", "Nama Pengguna Layanan"), ("phone", "No. HP (WA)"), ("email", "E-mail")]


def _excel_date(day: Any) -> Any:
    return datetime(day.year, day.month, day.day) if isinstance(day, date) else day  # noqa: DTZ001 - a date cell


def write_unit_workbook(path: Path, *, n_internal: int = 36, n_external: int = 36) -> None:
    """One unit's file as it arrives from the unit: title rows, the KPK headers, the column-number
    row, people with a WhatsApp number and/or an email (one of each sheet with neither), the
    signature block under the table. Sheets "Internal" (pegawai) and "Eksternal" (pengguna layanan)."""
    from openpyxl import Workbook

    records, _ = generate_records(seed=20, n_internal=n_internal, n_external=n_external, n_vendor=0,
                                  n_expert=0, messy=False)
    book = Workbook()
    book.remove(book.active)
    for form, columns, title in (
        ("internal", INTERNAL, "DATA POPULASI RESPONDEN INTERNAL (PEGAWAI)"),
        ("external", EXTERNAL, "DATA POPULASI RESPONDEN EKSTERNAL (PENGGUNA LAYANAN)"),
    ):
        sheet = book.create_sheet("Internal" if form == "internal" else "Eksternal")
        sheet.append([title])
        sheet.append(["SURVEI PENILAIAN INTEGRITAS (SPI)"])
        sheet.append([f"Unit kerja: {UNIT}"])
        sheet.append([])
        sheet.append([header for _, header in columns])
        sheet.append([f"({i})" for i in range(1, len(columns) + 1)])
        rows = records[form]
        rows[-1] = {**rows[-1], "phone": None, "email": None}  # to be fixed by the unit: no contact
        services = ["Izin Usaha (NIB)", "Persetujuan Bangunan Gedung"]
        for number, rec in enumerate(rows, start=1):
            values = {
                "no": number, "unit": UNIT, "name": rec["name"], "position": rec.get("position"),
                "start": _excel_date(rec.get("start")), "sdate": _excel_date(rec.get("sdate")),
                "note": rec.get("note"), "service": services[number % 2],
                "phone": f"0{rec['phone']}" if rec["phone"] else None, "email": rec["email"],
            }
            sheet.append([values[key] for key, _ in columns])
        for row in footer_rows(len(columns), len(rows)):
            sheet.append(row)
    book.save(path)


@pytest.fixture
def journey_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Read by the live app when it starts (live_app resets the settings): sandbox channels (the test
    environment), no quiet hours (the test runs at any hour), a daily WhatsApp limit, uploads here."""
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", "250")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    reset_settings()
    yield
    reset_settings()


class Journey:
    """The browser page, with the checks made on every page and a numbered screenshot per step."""

    def __init__(self, page: Any, base: str, backend: str) -> None:
        self.page, self.base, self.backend = page, base, backend
        self.step = 0
        self.failures: list[str] = []
        page.on("response", self._on_response)

    def _on_response(self, response: Any) -> None:
        if response.request.resource_type == "document" and response.status >= 500:
            self.failures.append(f"{response.status} {response.url}")

    def check(self) -> None:
        """The page is the dashboard's, in Indonesian: not a server error, not raw JSON."""
        page = self.page
        page.wait_for_load_state()
        assert not self.failures, self.failures
        expect(page.locator("html")).to_have_attribute("lang", "id")
        assert "html" in (page.evaluate("document.contentType") or ""), page.url
        text = page.locator("body").inner_text()
        assert not text.lstrip().startswith(("{", "[")), f"raw JSON at {page.url}: {text[:200]}"
        for marker in NOT_INDONESIAN:
            assert marker not in text, f"{marker!r} at {page.url}: {text[:400]}"

    def shot(self, name: str) -> None:
        self.check()
        self.step += 1
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"journey-{self.backend}-{self.step:02d}-{name}.png"),
                             full_page=True)

    def login(self, user: str, password: str) -> None:
        page = self.page
        page.goto(f"{self.base}/pic")
        assert "/pic/login" in page.url
        self.check()
        page.get_by_label("Nama pengguna").fill(user)
        page.get_by_label("Kata sandi").fill(password)
        page.get_by_role("button", name="Masuk").click()
        page.wait_for_load_state()
        assert "/pic/login" not in page.url, page.locator("body").inner_text()[:400]


def _fresh(session: Session) -> Session:
    """Out of the test session's read snapshot: the app committed in its own sessions."""
    session.rollback()
    session.expire_all()
    return session


def test_pic_journey_from_empty_system_to_invitations_in_the_sandbox_outbox(
    journey_env: None, session: Session, live_app: Any, page: Any, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    # The one thing not done in the browser: the first admin (`spibot user add --role admin`).
    add_user(session, login="admin", password=PASSWORD, role="admin", institution_id=None, actor="test")
    session.commit()
    assert not session.exec(select(Institution)).first()  # an empty system
    book = tmp_path / "populasi-dpmptsp.xlsx"
    write_unit_workbook(book)

    backend = request.node.callspec.params["db_url"]
    j = Journey(page, live_app.url, backend)

    # --- the admin: the institution, then its PIC account ----------------------------------------
    j.login("admin", PASSWORD)
    j.shot("admin-beranda")
    page.get_by_role("link", name="Instansi", exact=True).click()
    expect(page.get_by_role("heading", name="Instansi peserta")).to_be_visible()
    expect(page.locator("#tabel-instansi")).to_contain_text("Belum ada instansi")
    page.get_by_label("Kode instansi").fill("kab-katingan")
    page.get_by_label("Nama instansi").fill("Pemerintah Kabupaten Katingan")
    page.get_by_label("Jenis instansi").select_option("kabupaten")
    page.get_by_label("Zona waktu").select_option("WIB")
    j.shot("admin-instansi-isi")
    page.get_by_role("button", name="Tambah instansi").click()
    j.check()
    expect(page.get_by_role("status")).to_contain_text("Instansi Pemerintah Kabupaten Katingan dibuat")
    expect(page.locator("#tabel-instansi")).to_contain_text("KAB-KATINGAN")
    j.shot("admin-instansi-dibuat")

    page.get_by_role("link", name="Pengguna", exact=True).first.click()
    expect(page.get_by_role("heading", name="Pengguna dasbor")).to_be_visible()
    page.get_by_label("Nama pengguna").fill(PIC_LOGIN)
    page.get_by_label("Nama lengkap").fill("Sri Rahayu")
    page.get_by_label("Peran").select_option("pic")
    page.get_by_label("Instansi", exact=True).select_option(label="Pemerintah Kabupaten Katingan")
    page.get_by_label("Kata sandi (minimal 10 karakter)").fill(PIC_PASSWORD)
    page.get_by_role("button", name="Tambah", exact=True).click()
    j.check()
    expect(page.get_by_role("status")).to_contain_text("Perubahan tersimpan")
    row = page.locator("#tabel-pengguna tr", has_text=PIC_LOGIN)
    expect(row).to_contain_text("Pemerintah Kabupaten Katingan")
    expect(row).to_contain_text("aktif")
    j.shot("admin-pengguna-pic")
    page.get_by_role("button", name="Keluar").click()
    j.check()

    # --- the PIC: the campaign ------------------------------------------------------------------
    j.login(PIC_LOGIN, PIC_PASSWORD)
    expect(page.get_by_role("heading", name="Pemerintah Kabupaten Katingan")).to_be_visible()
    expect(page.get_by_text("Belum ada kampanye survei untuk instansi Anda.")).to_be_visible()
    today = local(utcnow(), TZ).date()
    page.get_by_label("Nama kampanye").fill("SPI 2026 Katingan")
    page.get_by_label("Tanggal buka", exact=True).fill(today.isoformat())
    page.get_by_label("Tanggal tutup (batas waktu dari surat KPK)").fill((today + timedelta(days=45)).isoformat())
    j.shot("pic-buat-kampanye")
    page.get_by_role("button", name="Buat kampanye").click()
    page.wait_for_url(re.compile(r"/pic/c/\d+/data\?ok=kampanye"))
    j.check()
    cid = int(re.search(r"/pic/c/(\d+)/", page.url).group(1))  # type: ignore[union-attr]
    expect(page.get_by_role("status")).to_contain_text("Kampanye dibuat")
    expect(page.locator("#tabel-unit")).to_contain_text("Belum ada unit kerja")
    j.shot("pic-kampanye-dibuat")

    # --- Kumpulkan data: upload, preview, save; the same file again changes nothing -------------
    def upload() -> Any:
        page.get_by_label("Pilih berkas .xlsx atau .csv").set_input_files(str(book))
        page.get_by_role("button", name="Unggah dan lihat pratinjau").click()
        page.wait_for_url(re.compile(r"pratinjau="))
        j.check()
        preview = page.locator("#pratinjau")
        expect(preview.get_by_role("heading", name="Pratinjau sebelum disimpan")).to_be_visible()
        expect(preview).to_contain_text(book.name)
        return preview

    preview = upload()
    table = preview.locator("table.tabel-pratinjau")
    internal_row = table.locator("tbody tr", has_text="Internal").first
    external_row = table.locator("tbody tr", has_text="Eksternal").first
    expect(internal_row.locator("td").nth(1)).to_have_text("pegawai")  # the recognised KPK form
    expect(external_row.locator("td").nth(1)).to_have_text("pengguna layanan")
    expect(internal_row.locator("td").nth(3)).to_have_text("36")  # data rows (footer not counted)
    expect(external_row.locator("td").nth(3)).to_have_text("36")
    expect(internal_row.locator("td").nth(6)).to_have_text("1")  # the row without a contact
    j.shot("data-pratinjau")
    preview.get_by_role("button", name="Simpan", exact=True).click()
    page.wait_for_url(re.compile(r"hasil="))
    j.check()
    expect(page.get_by_role("heading", name="Hasil penyimpanan")).to_be_visible()
    expect(page.locator("#tanpa-perubahan")).to_have_count(0)
    units = page.locator("#tabel-unit")
    expect(units).to_contain_text(UNIT)
    expect(units).to_contain_text(book.name)
    j.shot("data-tersimpan")

    preview = upload()
    expect(preview).to_contain_text("Isi berkas ini sama dengan yang sudah pernah disimpan")
    j.shot("data-pratinjau-ulang")
    preview.get_by_role("button", name="Simpan (tidak ada perubahan)").click()
    page.wait_for_url(re.compile(r"hasil="))
    j.check()
    expect(page.locator("#tanpa-perubahan")).to_contain_text("Tidak ada perubahan")
    j.shot("data-tanpa-perubahan")
    _fresh(session)
    people = session.exec(select(Person)).all()
    assert len(people) == 72 and len({(p.group, p.name, p.phone, p.email) for p in people}) == 72  # not twice

    # --- Sampel: the plan, the confirmation page, the draw --------------------------------------
    page.get_by_role("link", name="Sampel", exact=True).click()
    j.check()
    expect(page.get_by_role("heading", name="Rencana sampel")).to_be_visible()
    plan = page.locator("#tabel-rencana")
    for group in ("Internal (pegawai)", "Eksternal (pengguna layanan, penyedia)"):  # 36 rows, 1 to fix
        expect(plan.locator("tr", has_text=group).locator("td, th").nth(1)).to_have_text("35")
    expect(page.locator("#rencana-sampel dl.audit")).to_contain_text("70 orang")
    j.shot("sampel-rencana")
    page.get_by_role("button", name="Tarik sampel").click()
    j.check()
    expect(page.get_by_role("heading", name="Tarik sampel sekarang?")).to_be_visible()
    population_hash = page.locator("#hash-konfirmasi").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", population_hash)
    j.shot("sampel-konfirmasi")
    page.get_by_role("button", name="Ya, tarik sampel sekarang").click()
    j.check()
    expect(page.get_by_role("status")).to_contain_text("Sampel berhasil ditarik")
    expect(page.locator("#audit-sampel")).to_contain_text(population_hash)
    expect(page.locator("#audit-sampel")).to_contain_text(f"oleh {PIC_LOGIN}")
    j.shot("sampel-ditarik")

    # --- Loket & poster: a counter and its poster link ------------------------------------------
    page.get_by_role("link", name="Loket & poster").click()
    j.check()
    page.get_by_label("Unit kerja").select_option(label=page.locator("#unit option", has_text=UNIT).inner_text())
    page.get_by_label("Nama loket").fill("Loket 1")
    page.get_by_label("Rata-rata pengunjung per hari").fill("40")
    page.get_by_role("button", name="Tambah loket").click()
    j.check()
    expect(page.get_by_role("status")).to_contain_text("Loket 1 di")
    poster = page.get_by_role("link", name="Poster pendaftaran Loket 1 (PDF)")
    expect(poster).to_be_visible()
    href = poster.get_attribute("href") or ""
    assert "loket=Loket+1" in href
    pdf = page.request.get(f"{live_app.url}{href}" if href.startswith("/") else href)
    assert pdf.ok and pdf.body().startswith(b"%PDF"), pdf.status
    j.shot("loket-poster")

    # --- Luncurkan: the checklist, the confirmation page, the Pengiriman panel -------------------
    _fresh(session)
    sampled = session.exec(select(Assignment).where(Assignment.campaign_id == cid, Assignment.active)).all()
    persons = {p.id: p for p in session.exec(select(Person))}
    reachable = {a.id: p for a in sampled if (p := persons[a.person_id]).phone or p.email}
    by_whatsapp = sum(1 for p in reachable.values() if p.phone)
    assert sampled and reachable

    page.get_by_role("link", name="Luncurkan", exact=True).click()
    j.check()
    checklist = page.locator("#daftar-periksa")
    expect(checklist).to_contain_text(f"Sampel: {len(sampled)} responden aktif")
    expect(checklist).to_contain_text("Pengaturan pengiriman (WhatsApp, email, alamat publik) lulus pemeriksaan")
    expect(checklist.locator("li.gagal")).to_have_count(0)
    expect(page.locator("#rencana-kirim")).to_contain_text(f"WhatsApp: {by_whatsapp} undangan")
    expect(page.locator("#rencana-kirim")).to_contain_text(f"Email: {len(reachable) - by_whatsapp} undangan")
    j.shot("luncurkan-daftar-periksa")
    page.get_by_role("button", name="Luncurkan undangan").click()
    j.check()
    expect(page.get_by_role("heading", name="Luncurkan undangan?")).to_be_visible()
    page.get_by_label("Saya mengerti").check()
    j.shot("luncurkan-konfirmasi")
    page.get_by_role("button", name="Ya, luncurkan undangan").click()
    j.check()
    expect(page.get_by_role("status")).to_contain_text(f"{len(reachable)} undangan diantrekan")
    expect(page.locator("#pengiriman").get_by_role("heading", name="Pengiriman")).to_be_visible()
    expect(page.get_by_role("button", name="Jeda pengiriman")).to_be_visible()
    j.shot("luncurkan-pengiriman")

    # --- the provider side: the worker sends once (`spibot worker --once`) into the sandbox -----
    from dispatch.worker import run_until_idle

    stats = run_until_idle(timeout=30)
    page.reload()
    j.shot("luncurkan-sesudah-kirim")
    _fresh(session)
    rows = session.exec(select(Outbox).where(Outbox.campaign_id == cid, Outbox.purpose == "invitation")).all()
    assert len(rows) == len(reachable), stats  # exactly one per sampled respondent with a contact ...
    assert {r.assignment_id for r in rows} == set(reachable)  # ... and none twice
    assert len({r.key for r in rows}) == len({r.provider_id for r in rows}) == len(rows)  # no duplicates
    for r in rows:
        person = reachable[r.assignment_id]
        assert (r.backend, r.status, r.wave) == ("sandbox", "delivered", 1), (r.backend, r.status, r.error_message)
        assert r.channel == ("whatsapp" if person.phone else "email")
        assert r.to_address == (person.phone if person.phone else person.email)
        assert (r.provider_id or "").startswith("SBWA" if r.channel == "whatsapp" else "SBEM")
    assert not session.exec(select(Outbox).where(Outbox.campaign_id != cid)).first()
