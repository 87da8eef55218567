from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import Session

from core.audit import AuditLog
from core.models import Person, Unit
from population.errors import IntakeError
from population.importer import import_files
from population.models import ImportBatch
from population.synthetic import write_population_csv, write_population_workbook
from tests.factories import make_institution

REF = date(2024, 6, 30)


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_messy_workbook_matches_its_known_counts(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "populasi.xlsx"
    expected = write_population_workbook(path, seed=11, n_internal=700, n_external=600, reference_date=REF)
    inst = make_institution(session)
    seen: list[int] = []
    report = import_files(session, [path], inst, REF, progress=seen.append)
    session.commit()
    assert report.summary() == expected.summary()
    assert all(sheet["footer_rows"] >= 6 for sheet in report.sheets)  # totals, signatures: not data
    assert seen and seen[-1] == _count(session, Person)
    flagged = [p for p in session.scalars(select(Person)) if "shared_contact" in p.flags]
    assert len(flagged) == expected.shared_contact_people > 0
    units = session.scalars(select(Unit).where(Unit.institution_id == inst.id)).all()
    assert {u.name.lower() for u in units} == expected.units
    non_asn = session.scalar(select(func.count()).where(Person.non_asn.is_(True), Person.status == "eligible"))  # type: ignore[attr-defined]
    assert non_asn == expected.summary()["internal"]["eligible_non_asn"] > 0
    assert {p.phone[:3] for p in session.scalars(select(Person).where(Person.phone.is_not(None)))} == {"+62"}  # type: ignore[union-attr]
    batch = session.scalars(select(ImportBatch)).one()
    assert batch.summary == expected.summary()
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "population.import")).one()
    assert audit.institution_id == inst.id


def test_reimport_reuses_units_by_name(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    write_population_workbook(path, seed=2, n_internal=80, n_external=60, reference_date=REF)
    inst = make_institution(session)
    import_files(session, [path], inst, REF)
    units = _count(session, Unit)
    import_files(session, [path], inst, REF)
    assert _count(session, Unit) == units


def test_csv_import(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "eksternal.csv"
    expected = write_population_csv(path, seed=4, n_rows=500, form="external", reference_date=REF)
    inst = make_institution(session)
    report = import_files(session, [path], inst, REF)
    assert report.summary() == expected.summary()


def test_control_characters_in_cells_are_cleaned_not_fatal(session: Session, tmp_path: Path) -> None:
    """A NUL or other control character (a damaged export) cannot be stored in PostgreSQL text:
    it is read as a space, so the row imports cleanly on both backends."""
    path = tmp_path / "internal.csv"
    path.write_text("Nama,Unit Kerja,Jabatan,TMT di Unit,No HP,Email\n"
                    "Budi\x00 Santoso,Dinas\x00Kesehatan,Analis\x01,13-10-2019\x00,0813\x0034481749,budi\x00@x.id\n",
                    encoding="utf-8")
    inst = make_institution(session)
    report = import_files(session, [path], inst, REF)
    assert report.summary()["internal"]["eligible"] == 1
    person = session.scalars(select(Person).where(Person.institution_id == inst.id)).one()
    assert (person.name, person.position, person.start_date, person.phone, person.email) == (
        "Budi Santoso", "Analis", date(2019, 10, 13), "+6281334481749", "budi@x.id")
    assert session.get(Unit, person.unit_id).name == "Dinas Kesehatan"  # type: ignore[union-attr]


def _bad_workbook(path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "Pegawai"
    ws.append(["Daftar pegawai"])
    ws.append(["Nomor", "Siapa", "Kapan"])
    ws.append([1, "Budi", "kemarin"])
    wb.save(path)


def test_all_or_nothing_on_a_sheet_without_header(session: Session, tmp_path: Path) -> None:
    good = tmp_path / "good.xlsx"
    write_population_workbook(good, seed=1, n_internal=50, n_external=40, reference_date=REF)
    bad = tmp_path / "bad.xlsx"
    _bad_workbook(bad)
    inst = make_institution(session)
    session.commit()
    with pytest.raises(IntakeError) as info:
        import_files(session, [good, bad], inst, REF)
    message = str(info.value)
    assert "bad.xlsx" in message and "Pegawai" in message and "Nama Pegawai" in message
    session.commit()
    assert _count(session, Person) == 0 and _count(session, ImportBatch) == 0 and _count(session, Unit) == 0


def test_all_or_nothing_when_a_file_breaks_mid_import(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after rows were inserted rolls the whole import back (the SAVEPOINT)."""
    good = tmp_path / "good.xlsx"
    write_population_workbook(good, seed=1, n_internal=300, n_external=40, reference_date=REF)
    inst = make_institution(session)
    session.commit()
    import population.importer as importer

    original = importer._flag_shared_contacts

    def explode(intake: object) -> None:
        original(intake)  # type: ignore[arg-type]
        raise IntakeError("simulated failure")

    monkeypatch.setattr(importer, "_flag_shared_contacts", explode)
    with pytest.raises(IntakeError):
        import_files(session, [good], inst, REF)
    session.commit()
    assert _count(session, Person) == 0 and _count(session, Unit) == 0 and _count(session, AuditLog) == 0


@pytest.mark.parametrize("content", [b"PK\x03\x04 not really a zip", b""])
def test_unreadable_xlsx_is_refused(session: Session, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "rusak.xlsx"
    path.write_bytes(content)
    inst = make_institution(session)
    with pytest.raises(IntakeError, match="rusak.xlsx"):
        import_files(session, [path], inst, REF)


def test_unsupported_and_missing_files(session: Session, tmp_path: Path) -> None:
    inst = make_institution(session)
    doc = tmp_path / "data.docx"
    doc.write_bytes(b"x")
    with pytest.raises(IntakeError, match=r"\.xlsx or \.csv"):
        import_files(session, [doc], inst, REF)
    with pytest.raises(IntakeError, match="not found"):
        import_files(session, [tmp_path / "nope.csv"], inst, REF)


def _external_csv(path: Path, rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=",")
        w.writerow(["Unit Kerja Tempat Mengurus Layanan Publik", "Nama Layanan yang diterima",
                    "Tanggal/ Bulan/ Tahun Mengurus Layanan", "Nama Pengguna Layanan", "No. HP (WA)", "E-mail"])
        w.writerows(rows)


def test_busy_units_count_only_recent_months(session: Session, tmp_path: Path) -> None:
    rows: list[list[object]] = []
    for i in range(12 * 400):  # 400 users a month over 12 months at one unit
        month = 7 + (i % 12)
        year, month = (2023, month) if month <= 12 else (2024, month - 12)
        rows.append(["Disdukcapil", "KTP-el", f"15/{month:02d}/{year}", f"Pengguna {i}", f"0812{i:08d}", None])
    rows.append(["Dinas Sosial", "Bansos", "15/08/2023", "Ani", "081399990000", None])  # a quiet unit
    path = tmp_path / "ext.csv"
    _external_csv(path, rows)
    inst = make_institution(session)
    summary = import_files(session, [path], inst, REF).summary()["external"]
    assert summary["eligible"] == 3 * 400 + 1  # April-June 2024 at the busy unit; the quiet unit keeps August
    assert summary["excluded"] == {"outside_service_window": 9 * 400}


def test_duplicates_and_shared_contacts(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "ext.csv"
    _external_csv(path, [
        ["Disdukcapil", "KTP-el", "01/06/2024", "Rina Wati", "0812-3456-7890", None],
        [" disdukcapil ", "KTP-el", "2024-06-02", "RINA  WATI", "+62 812 3456 7890", ""],  # same person
        ["Disdukcapil", "KK", "01/06/2024", "Budi", "6281234567890", None],  # same number, another name
    ])
    inst = make_institution(session)
    summary = import_files(session, [path], inst, REF).summary()["external"]
    assert summary["rows"] == 3 and summary["duplicates"] == 1 and summary["eligible"] == 2
    people = session.scalars(select(Person)).all()
    assert all("shared_contact" in p.flags for p in people)


def test_shared_contacts_flag_only_this_batch_and_keep_other_flags(session: Session, tmp_path: Path) -> None:
    """Flags are set by phone and by email, non-ASN kept, earlier batches left alone; the
    planner setting changed for the statement on PostgreSQL is restored."""
    inst = make_institution(session)
    first = tmp_path / "first.csv"
    _external_csv(first, [["Disdukcapil", "KTP-el", "01/06/2024", "Ani", "0812-1111-2222", None]])
    import_files(session, [first], inst, REF)
    path = tmp_path / "pegawai.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["Unit Kerja", "Nama Pegawai", "Tanggal mulai bekerja di unit kerja", "Jabatan",
                    "No. HP (WA) aktif", "E-mail aktif", "Keterangan"])
        w.writerows([
            ["Dinas Sosial", "Ani", "01/01/2019", "Analis", "0812-1111-2222", None, "Honorer"],
            ["Dinas Sosial", "Budi", "01/01/2019", "Analis", "0812-1111-2222", None, "PNS"],  # same phone
            ["Dinas Sosial", "Citra", "01/01/2019", "Analis", None, "kantor@KAB.go.id ", "PNS"],
            ["Dinas Sosial", "Dedi", "01/01/2019", "Analis", None, "kantor@kab.go.id", "THL"],  # same email
            ["Dinas Sosial", "Eka", "01/01/2019", "Analis", "0813-9999-0000", None, "PNS"],
        ])
    import_files(session, [path], inst, REF)
    flags = {(p.group, p.name): p.flags for p in session.scalars(select(Person))}
    assert flags == {
        ("external", "Ani"): [],  # an earlier import: other batch, other form
        ("internal", "Ani"): ["non_asn", "shared_contact"], ("internal", "Budi"): ["shared_contact"],
        ("internal", "Citra"): ["shared_contact"], ("internal", "Dedi"): ["non_asn", "shared_contact"],
        ("internal", "Eka"): [],
    }
    if session.get_bind().dialect.name == "postgresql":
        assert session.connection().exec_driver_sql("SHOW enable_nestloop").scalar() == "on"
