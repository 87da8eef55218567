"""Step 1 of the PIC's journey in the browser, without a terminal: the admin creates an institution
and its PIC, the PIC creates the campaign, uploads the units' files (preview first, nothing written),
saves them (idempotent: a second "Simpan" or the same file again changes nothing and says so, a
changed file shows the diff, after the draw a list cannot be replaced), sees per unit what arrived
and downloads a unit's fix list. Bad files are refused with a message and write nothing. On SQLite
and PostgreSQL."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlmodel import Session

from core.audit import AuditLog
from core.clock import utcnow
from core.config import reset_settings
from core.models import Campaign, Institution, Person, Unit
from monitor.users import add_user
from population.models import ImportBatch, SampleDraw
from population.synthetic import write_population_workbook
from tests.factories import make_assignment, make_campaign, make_institution
from tests.monitor.conftest import PASSWORD, csrf_of, login

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def uploads_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """Previews are stored under DATA_DIR: a temporary one per test."""
    folder = tmp_path / "var"
    monkeypatch.setenv("DATA_DIR", str(folder))
    reset_settings()
    return folder


def count(session: Session, model: type) -> int:
    session.rollback()  # a new read transaction: see what the app committed
    return session.scalar(select(func.count()).select_from(model)) or 0


def workbook(tmp_path: Path, name: str = "populasi-dinas.xlsx", seed: int = 11) -> Path:
    path = tmp_path / name
    write_population_workbook(path, seed=seed, n_internal=40, n_external=30)
    return path


def setup(session: Session) -> tuple[Campaign, Campaign]:
    """Two institutions with a campaign each, their PICs, and a viewer of the first."""
    inst = make_institution(session, name="Kabupaten Katingan", timezone="Asia/Pontianak")
    other = make_institution(session, name="Kabupaten Barito")
    campaign = make_campaign(session, inst, opens_at=utcnow() - timedelta(days=1),
                             closes_at=utcnow() + timedelta(days=40))
    theirs = make_campaign(session, other)
    add_user(session, login="pic.k", password=PASSWORD, role="pic", institution_id=inst.id, actor="test")
    add_user(session, login="viewer.k", password=PASSWORD, role="viewer", institution_id=inst.id, actor="test")
    add_user(session, login="pic.b", password=PASSWORD, role="pic", institution_id=other.id, actor="test")
    session.commit()
    return campaign, theirs


def upload(client: TestClient, campaign_id: int, *paths: Path, csrf: str | None = None,
           names: list[str] | None = None, **data: str) -> Any:
    csrf = csrf or csrf_of(client, f"/pic/c/{campaign_id}/data")
    files = [("berkas", ((names or [p.name for p in paths])[i], p.read_bytes(), XLSX_TYPE))
             for i, p in enumerate(paths)]
    return client.post(f"/pic/c/{campaign_id}/data/unggah", data={"csrf": csrf, **data}, files=files,
                       follow_redirects=False)


def preview_id(response: Any) -> str:
    assert response.status_code == 303, response.text
    found = re.search(r"pratinjau=([A-Za-z0-9_-]+)", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


def save(client: TestClient, campaign_id: int, token: str) -> Any:
    csrf = csrf_of(client, f"/pic/c/{campaign_id}/data")
    return client.post(f"/pic/c/{campaign_id}/data/simpan", data={"csrf": csrf, "pratinjau": token},
                       follow_redirects=False)


RAW_CODES = ("no_valid_contact", "missing_start_date", "missing_criterion", ">internal<", ">external<",
             ">vendor<", ">expert<")


# --- admin: institution, then its PIC ---------------------------------------------------------------


def test_admin_creates_an_institution_then_its_pic_who_creates_the_campaign(
    session: Session, client: TestClient,
) -> None:
    add_user(session, login="admin", password=PASSWORD, role="admin", institution_id=None, actor="test")
    session.commit()
    assert login(client, "admin").status_code == 303
    page = client.get("/pic/admin/instansi")
    assert page.status_code == 200 and "Tambah instansi" in page.text
    csrf = csrf_of(client, "/pic/admin/instansi")
    bad = client.post("/pic/admin/instansi", data={"csrf": csrf, "kode": "kab katingan!", "nama": "X",
                                                   "zona": "WIB", "jenis": "kabupaten"})
    assert bad.status_code == 422 and "Kode instansi" in bad.text
    made = client.post("/pic/admin/instansi", data={"csrf": csrf, "kode": "kab-katingan",
                                                    "nama": "Pemerintah Kabupaten Katingan",
                                                    "zona": "WITA", "jenis": "kabupaten"}, follow_redirects=True)
    assert made.status_code == 200 and "Instansi Pemerintah Kabupaten Katingan dibuat" in made.text
    session.rollback()
    inst = session.exec(select(Institution).where(Institution.code == "KAB-KATINGAN")).scalars().one()
    assert inst.timezone == "Asia/Makassar"
    again = client.post("/pic/admin/instansi", data={"csrf": csrf, "kode": "KAB-KATINGAN", "nama": "Lagi",
                                                     "zona": "WIB", "jenis": "kota"})
    assert again.status_code == 422 and "sudah ada" in again.text

    # the users page offers the new institution; the admin makes its PIC there
    users = client.get("/pic/admin/pengguna").text
    assert f'<option value="{inst.id}">Pemerintah Kabupaten Katingan</option>' in users
    csrf = csrf_of(client, "/pic/admin/pengguna")
    assert client.post("/pic/admin/pengguna", data={
        "csrf": csrf, "login": "pic.katingan", "password": PASSWORD, "role": "pic",
        "institution": str(inst.id), "name": "PIC Katingan"}, follow_redirects=False).status_code == 303
    assert session.exec(select(AuditLog.action).where(AuditLog.target == "KAB-KATINGAN")).scalars().all() == [
        "institution.add"]

    # the new PIC: no campaign yet, so the form
    client.cookies.clear()
    assert login(client, "pic.katingan").status_code == 303
    home = client.get("/pic")
    assert "Belum ada kampanye survei" in home.text and "Buat kampanye" in home.text
    csrf = csrf_of(client, "/pic")
    today = utcnow().date()
    wrong = client.post("/pic/kampanye", data={"csrf": csrf, "nama": "SPI", "buka": today.isoformat(),
                                               "tutup": (today - timedelta(days=3)).isoformat()})
    assert wrong.status_code == 422 and "Tanggal tutup" in wrong.text and count(session, Campaign) == 0
    form = {"csrf": csrf, "nama": "SPI 2026 Katingan", "tahun": "2026", "buka": today.isoformat(),
            "tutup": (today + timedelta(days=45)).isoformat()}
    created = client.post("/pic/kampanye", data=form, follow_redirects=False)
    assert created.status_code == 303
    session.rollback()
    campaign = session.exec(select(Campaign)).scalars().one()
    assert created.headers["location"] == f"/pic/c/{campaign.id}/data?ok=kampanye"
    assert campaign.name == "SPI 2026 Katingan" and campaign.year == 2026 and campaign.institution_id == inst.id
    assert client.post("/pic/kampanye", data=form, follow_redirects=False).status_code == 303  # pressed twice
    assert count(session, Campaign) == 1
    session.rollback()
    audit = session.exec(select(AuditLog).where(AuditLog.action == "campaign.create")).scalars().one()
    assert audit.actor == "pic.katingan" and audit.institution_id == inst.id
    page = client.get(created.headers["location"])
    assert page.status_code == 200 and "Kampanye dibuat" in page.text and "Unggah berkas unit kerja" in page.text


def test_only_admins_create_institutions_and_viewers_no_campaign(session: Session, client: TestClient) -> None:
    inst = make_institution(session)
    add_user(session, login="viewer.x", password=PASSWORD, role="viewer", institution_id=inst.id, actor="test")
    session.commit()
    login(client, "viewer.x")
    assert client.get("/pic/admin/instansi").status_code == 403
    home = client.get("/pic")
    assert "Buat kampanye" not in home.text
    csrf = csrf_of(client, "/pic")
    assert client.post("/pic/kampanye",
                       data={"csrf": csrf, "buka": "2026-01-01", "tutup": "2026-12-31"}).status_code == 403
    # no CSRF
    assert client.post("/pic/kampanye", data={"buka": "2026-01-01", "tutup": "2026-12-31"}).status_code == 403


# --- upload, preview, save ------------------------------------------------------------------------------


def test_upload_previews_then_saves_once_and_says_what_changed(
    session: Session, as_user: Any, tmp_path: Path, uploads_dir: Path,
) -> None:
    campaign, _ = setup(session)
    cid = campaign.id
    client = as_user("pic.k")
    book = workbook(tmp_path)

    # preview: every sheet with its form, header row and rows; nothing written yet
    token = preview_id(upload(client, cid, book))
    page = client.get(f"/pic/c/{cid}/data?pratinjau={token}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Pratinjau sebelum disimpan" in text and "populasi-dinas.xlsx" in text
    for sheet, form in (("Internal", "pegawai"), ("Eksternal", "pengguna layanan"), ("PBJ", "penyedia"),
                        ("Eksper", "eksper")):
        assert re.search(rf"<td>{sheet}</td><td>{form}</td><td class=\"n\">5</td>", text), sheet
    assert re.search(r"<td>Internal</td><td>pegawai</td><td class=\"n\">5</td><td class=\"n\">40</td>"
                     r"<td class=\"n\">[1-9]", text)  # 40 data rows, the footer lines not counted
    assert "Tidak ada nomor HP (WA) atau e-mail yang valid" in text  # reasons in words
    assert not any(code in text for code in RAW_CODES)
    assert count(session, Person) == 0 and count(session, ImportBatch) == 0

    # Simpan: imported, the result and the units with their clean % shown
    saved = save(client, cid, token)
    assert saved.status_code == 303 and f"hasil={token}" in saved.headers["location"]
    people = count(session, Person)
    assert people > 0 and count(session, ImportBatch) == 1
    result = client.get(saved.headers["location"]).text
    assert "Hasil penyimpanan" in result and "Kualitas data yang baru disimpan" in result
    assert "Belum dikirim" not in result and "populasi-dinas.xlsx" in result
    assert re.search(r'<td class="n">\d{2,3},\d%</td>', result)  # a clean % per unit
    assert not any(code in result for code in RAW_CODES)
    session.rollback()
    batch = session.exec(select(ImportBatch)).scalars().one()
    assert batch.actor == "pic.k"
    assert session.exec(select(AuditLog).where(AuditLog.action == "population.import")).scalars().one().actor == "pic.k"
    assert not any((uploads_dir / "uploads").rglob("*.xlsx"))  # the files are in the database now

    # Simpan pressed again: nothing doubled, and the page says it was saved already
    again = save(client, cid, token)
    assert again.status_code == 303 and "ulang=1" in again.headers["location"]
    assert "sudah disimpan sebelumnya" in client.get(again.headers["location"]).text
    assert count(session, Person) == people and count(session, ImportBatch) == 1

    # the same file again, under another name: the preview warns, Simpan changes nothing
    token2 = preview_id(upload(client, cid, book, names=["salinan.xlsx"]))
    assert "akan dilewati" in client.get(f"/pic/c/{cid}/data?pratinjau={token2}").text
    same = save(client, cid, token2)
    assert "Tidak ada perubahan" in client.get(same.headers["location"]).text
    assert count(session, Person) == people and count(session, ImportBatch) == 1

    # a changed file: its units' lists are replaced and the page shows the diff
    changed = workbook(tmp_path, "populasi-dinas-revisi.xlsx", seed=12)
    diff = client.get(save(client, cid, preview_id(upload(client, cid, changed))).headers["location"]).text
    assert "Perubahan daftar unit kerja" in diff and "ditambah" in diff and "dihapus" in diff
    assert count(session, ImportBatch) == 2


def test_saving_twice_at_once_imports_once(session: Session, as_user: Any, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    campaign, _ = setup(session)
    client = as_user("pic.k")
    token = preview_id(upload(client, campaign.id, workbook(tmp_path)))
    csrf = csrf_of(client, f"/pic/c/{campaign.id}/data")

    def press(_: int) -> str:
        response = client.post(f"/pic/c/{campaign.id}/data/simpan", data={"csrf": csrf, "pratinjau": token},
                               follow_redirects=False)
        assert response.status_code == 303
        return str(response.headers["location"])

    with ThreadPoolExecutor(2) as pool:
        locations = sorted(pool.map(press, range(2)))
    assert count(session, ImportBatch) == 1  # imported once
    assert sum("ulang=1" in location for location in locations) == 1  # the other press was told so
    people = count(session, Person)
    assert people == session.scalar(select(func.count()).select_from(ImportBatch).join(
        Person, Person.import_batch_id == ImportBatch.id))  # type: ignore[arg-type]


def test_bad_files_are_refused_with_a_message_and_write_nothing(
    session: Session, as_user: Any, tmp_path: Path, uploads_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign, _ = setup(session)
    cid = campaign.id
    client = as_user("pic.k")
    good = workbook(tmp_path)
    not_xlsx = tmp_path / "rusak.xlsx"
    not_xlsx.write_bytes(b"PK\x03\x04 this is no workbook at all")
    no_header = tmp_path / "tanpa-judul.csv"
    no_header.write_text("a;b;c\n1;2;3\n", encoding="utf-8")
    program = tmp_path / "virus.exe"
    program.write_bytes(b"MZ\x90\x00")

    cases = [
        ((good, not_xlsx), "rusak.xlsx", "tidak dapat dibaca"),  # one bad file: the good one is not saved either
        ((no_header,), "tanpa-judul.csv", "baris judul kolom tidak dikenali"),
        ((program,), "virus.exe", "jenis berkas tidak didukung"),
    ]
    for paths, name, what in cases:
        response = upload(client, cid, *paths)
        assert response.status_code == 422, name
        assert name in response.text and what in response.text and "Tidak ada data yang disimpan" in response.text
    # a name with directories is never trusted
    sneaky = upload(client, cid, good, names=["../../etc/passwd.xlsx"])
    token = preview_id(sneaky)
    assert "passwd.xlsx" in client.get(f"/pic/c/{cid}/data?pratinjau={token}").text
    assert not (uploads_dir.parent / "etc").exists()
    assert all(uploads_dir in p.parents for p in (uploads_dir / "uploads").rglob("*"))

    # too big: refused before reading (the cap is said)
    import monitor.intake as routes  # the caps live in the shared upload steps

    monkeypatch.setattr(routes, "MAX_FILE_BYTES", 1000)
    big = upload(client, cid, good)
    assert big.status_code == 413 and "lebih besar dari 20 MB" in big.text
    monkeypatch.setattr(routes, "MAX_BODY_BYTES", 1000)
    assert upload(client, cid, good).status_code == 413

    # JavaScript's upload gets the message as JSON
    monkeypatch.undo()
    csrf = csrf_of(client, f"/pic/c/{cid}/data")
    js = client.post(f"/pic/c/{cid}/data/unggah", headers={"X-Requested-With": "XMLHttpRequest", "X-CSRF-Token": csrf},
                     files=[("berkas", ("tanpa-judul.csv", no_header.read_bytes(), "text/csv"))])
    assert js.status_code == 422 and "tanpa-judul.csv" in js.json()["error"]
    ok = client.post(f"/pic/c/{cid}/data/unggah", headers={"X-Requested-With": "XMLHttpRequest", "X-CSRF-Token": csrf},
                     files=[("berkas", ("a.xlsx", good.read_bytes(), XLSX_TYPE))])
    assert ok.status_code == 200 and "pratinjau=" in ok.json()["redirect"]

    assert count(session, Person) == 0 and count(session, ImportBatch) == 0 and count(session, Unit) == 0
    # a preview that does not exist
    missing = save(client, cid, "A" * 22)
    assert missing.status_code == 404 and "unggah ulang" in missing.text


def test_after_the_draw_a_list_cannot_be_replaced_nor_the_deadline_moved(
    session: Session, as_user: Any, tmp_path: Path,
) -> None:
    campaign, _ = setup(session)
    cid = campaign.id
    client = as_user("pic.k")
    save(client, cid, preview_id(upload(client, cid, workbook(tmp_path))))

    # before the draw: the closing date moves (audited)
    new_close = (utcnow() + timedelta(days=60)).date()
    csrf = csrf_of(client, f"/pic/c/{cid}/data")
    moved = client.post(f"/pic/c/{cid}/data/batas", data={"csrf": csrf, "tutup": new_close.isoformat()},
                        follow_redirects=True)
    assert moved.status_code == 200 and "Tanggal tutup survei diperbarui" in moved.text
    session.rollback()
    closes_at = session.scalar(select(Campaign.closes_at).where(Campaign.id == cid))
    assert closes_at is not None and (closes_at + timedelta(hours=7)).date() == new_close, closes_at
    assert session.exec(select(AuditLog).where(AuditLog.action == "campaign.deadline")).scalars().one()
    past = client.post(f"/pic/c/{cid}/data/batas", data={"csrf": csrf, "tutup": "2020-01-01"})
    assert past.status_code == 409

    # the draw: a person of the list got an assignment
    session.rollback()
    person = session.exec(
        select(Person).where(Person.status == "eligible", Person.group == "internal")).scalars().first()
    assert person is not None
    make_assignment(session, campaign, person)
    session.add(SampleDraw(campaign_id=cid, seed=1, margin=0.05, confidence=0.95, population_hash="0" * 64))
    session.commit()
    people, batches = count(session, Person), count(session, ImportBatch)
    refused = save(client, cid, preview_id(upload(client, cid, workbook(tmp_path, "revisi.xlsx", seed=12))))
    assert refused.status_code == 422
    assert "Sampel sudah ditarik" in refused.text and "tidak ada data yang disimpan" in refused.text
    assert count(session, Person) == people and count(session, ImportBatch) == batches
    page = client.get(f"/pic/c/{cid}/data").text
    assert "tidak dapat diubah lagi" in page and 'name="tutup"' not in page
    assert client.post(f"/pic/c/{cid}/data/batas",
                       data={"csrf": csrf, "tutup": new_close.isoformat()}).status_code == 409


def test_units_by_hand_and_the_fix_list_of_a_unit(session: Session, as_user: Any, tmp_path: Path) -> None:
    campaign, _ = setup(session)
    cid = campaign.id
    client = as_user("pic.k")
    csrf = csrf_of(client, f"/pic/c/{cid}/data")
    added = client.post(f"/pic/c/{cid}/data/unit", data={"csrf": csrf, "nama": "Dinas Perpustakaan Daerah"},
                        follow_redirects=True)
    assert added.status_code == 200 and "Dinas Perpustakaan Daerah" in added.text and "Belum dikirim" in added.text
    assert client.post(f"/pic/c/{cid}/data/unit", data={"csrf": csrf, "nama": "dinas  perpustakaan daerah"}
                       ).status_code == 422  # the same unit again
    save(client, cid, preview_id(upload(client, cid, workbook(tmp_path))))
    page = client.get(f"/pic/c/{cid}/data").text
    links = re.findall(r'href="(/pic/c/\d+/data/unit/(\d+)/perbaikan\.xlsx)"', page)
    assert links
    url, unit_id = links[0]
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Berkas", "Sheet", "Baris", "Formulir", "Nama", "Masalah dan cara memperbaiki")
    assert len(rows) > 1 and all(r[0] == "populasi-dinas.xlsx" for r in rows[1:])
    assert not any(code.strip("<>") in str(r) for r in rows for code in RAW_CODES)
    session.rollback()
    unit = session.get(Unit, int(unit_id))
    assert unit is not None
    unusable = session.scalar(select(func.count()).select_from(Person).where(
        Person.unit_id == unit.id, Person.status == "unusable"))
    assert len(rows) - 1 == unusable

    # another institution's PIC: not found, everywhere
    other = as_user("pic.b")
    assert other.get(url).status_code == 404


def test_another_institution_gets_404_and_a_viewer_reads_only(
    session: Session, client: TestClient, tmp_path: Path,
) -> None:
    campaign, theirs = setup(session)
    cid = campaign.id
    login(client, "pic.k")
    token = preview_id(upload(client, cid, workbook(tmp_path)))

    client.cookies.clear()
    login(client, "pic.b")
    csrf = csrf_of(client, f"/pic/c/{theirs.id}/data")
    assert client.get(f"/pic/c/{cid}/data").status_code == 404
    assert client.get(f"/pic/c/{cid}/data?pratinjau={token}").status_code == 404
    assert upload(client, cid, workbook(tmp_path), csrf=csrf).status_code == 404
    for action, data in (("simpan", {"pratinjau": token}), ("batal", {"pratinjau": token}),
                         ("unit", {"nama": "Dinas Lain"}), ("batas", {"tutup": "2030-01-01"})):
        assert client.post(f"/pic/c/{cid}/data/{action}", data={"csrf": csrf, **data}).status_code == 404, action
    # their own campaign does not reach the first institution's preview either
    assert "Pratinjau tidak ditemukan" in client.get(f"/pic/c/{theirs.id}/data?pratinjau={token}").text
    mine = client.post(f"/pic/c/{theirs.id}/data/simpan", data={"csrf": csrf, "pratinjau": token})
    assert mine.status_code == 404
    assert count(session, Person) == 0

    client.cookies.clear()
    login(client, "viewer.k")
    page = client.get(f"/pic/c/{cid}/data?pratinjau={token}")
    assert page.status_code == 200 and "Pratinjau sebelum disimpan" in page.text
    assert "Unggah dan lihat pratinjau" not in page.text and 'type="submit">Simpan' not in page.text
    assert "upload.js" not in page.text
    csrf = csrf_of(client, "/pic")
    assert client.post(f"/pic/c/{cid}/data/simpan", data={"csrf": csrf, "pratinjau": token}).status_code == 403
    assert upload(client, cid, workbook(tmp_path), csrf=csrf).status_code == 403
    assert count(session, Person) == 0


def test_the_upload_script_is_served(client: TestClient) -> None:
    response = client.get("/pic/static/upload.js")
    assert response.status_code == 200 and "XMLHttpRequest" in response.text
    assert response.headers["content-type"].startswith("text/javascript")


def test_reference_date_rules(session: Session, as_user: Any, tmp_path: Path) -> None:
    campaign, _ = setup(session)
    client = as_user("pic.k")
    future = (date.today() + timedelta(days=5)).isoformat()
    assert upload(client, campaign.id, workbook(tmp_path), tanggal_acuan=future).status_code == 422
    token = preview_id(upload(client, campaign.id, workbook(tmp_path), tanggal_acuan="2026-01-31"))
    assert "Tanggal acuan: 31 Januari 2026" in client.get(f"/pic/c/{campaign.id}/data?pratinjau={token}").text
