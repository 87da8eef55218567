"""The lines under a population table (signature block, notes, totals) are not data rows."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import Session

from core.models import Person
from population.footer import Footer, is_footer_line, is_place_date
from population.importer import import_files
from population.records import parse_rows
from tests.factories import make_institution

REF = date(2024, 6, 30)
# No, Unit, Nama, Tanggal mulai, Jabatan, HP, E-mail, Keterangan
COLUMNS = {"unit": 1, "name": 2, "start_date": 3, "position": 4, "phone": 5, "email": 6, "note": 7}


def _row(*cells: tuple[int, object]) -> list[object]:
    row: list[object] = [None] * 8
    for index, value in cells:
        row[index] = value
    return row


def _person(number: int, name: str, phone: str | None = "0813-3448-1749") -> list[object]:
    return [number, "Dinas Sosial", name, "13/10/2019", "Analis", phone, None, "PNS"]


KPK_FOOTER = [
    _row((0, "Jumlah"), (6, 2)),
    [None] * 8,
    _row((6, "Kasongan, 12 Maret 2024")),
    _row((2, "Mengetahui,"), (6, "Yang membuat daftar,")),
    _row((2, "Kepala Dinas Sosial"), (6, "Pengelola Data")),
    [None] * 8,
    _row((2, "Drs. H. Ahmad Yani, M.Si"), (6, "Siti Rahma, S.Kom")),
    _row((2, "NIP. 19700101 199003 1 001"), (6, "NIP. 19880312 201001 2 004")),
    _row((0, "Catatan: data per 31 Mei 2024, nomor HP wajib diisi.")),
]


def _names(records: list[object]) -> list[str]:
    return [r.name for r in records if r is not None]  # type: ignore[attr-defined]


def test_a_kpk_footer_is_not_data() -> None:
    rows = [_person(1, "Budi"), _person(2, "Ani"), *KPK_FOOTER]
    footer = Footer()
    records = parse_rows("internal", COLUMNS, rows, 10, footer)
    assert _names(records) == ["Budi", "Ani"]
    # Every footer line that has text in a mapped column; the note sits in the "No" column
    # only, outside every mapped column, so it is a blank row like the empty ones.
    assert footer.rows == 6


@pytest.mark.parametrize("cells", [
    ["Mengetahui,"], ["MENGETAHUI :"], ["Menyetujui"], ["NIP. 19700101 199003 1 001"], ["NIP: -"],
    ["Jumlah", None, None, 150], ["JUMLAH PEGAWAI", "", "", "150", 20, 3], ["Total"],
    ["Catatan: data belum lengkap"], ["Keterangan: Non ASN ditandai"], ["Ket. : -"], ["a.n. Bupati Katingan"],
    ["Kasongan, 12 Maret 2024"], ["Palangka Raya, 12-03-2024"], ["Kasongan,        Maret 2024"],
    ["Kasongan, .......... Maret 2024"], ["Kepala Dinas Pendidikan"], ["Plt. Kepala Badan", "Sekretaris"],
    ["Mengetahui,", "Kasongan, 12 Maret 2024"],
])
def test_footer_lines(cells: list[object]) -> None:
    assert is_footer_line(cells)


@pytest.mark.parametrize("cells", [
    ["Budi Santoso"], [7, "Budi Santoso"], [7, None, "Kepala Dinas Sosial"],  # a half-filled data row
    ["Dinas Pendidikan"], ["Keterangan"], ["An Nisa"], ["Budi, S.Kom"], [1, 2, 3],
    ["Mengetahui", "Budi", "Analis"],  # three filled cells
    ["Dinas Sosial", "Budi", "Kepala Dinas"],
])
def test_not_footer_lines(cells: list[object]) -> None:
    assert not is_footer_line(cells)


def test_place_and_date() -> None:
    assert is_place_date("Kasongan, 12 Maret 2024") and is_place_date("Kuala Kurun, 1 Okt 2023")
    assert not is_place_date("Budi, S.Kom") and not is_place_date("Jl. Ahmad Yani, No 5")


def test_a_lone_name_is_the_signer_only_under_a_footer_line() -> None:
    """Ambiguous rows: a name alone right under "Mengetahui," is the signer; the same row
    among the data is a data row (unusable, so the unit is asked to complete it)."""
    lone = _row((2, "Rudi Hartono"))
    above = parse_rows("internal", COLUMNS, [_person(1, "Budi"), lone, _person(2, "Ani")], 10)
    assert _names(above) == ["Budi", "Rudi Hartono", "Ani"]
    under = parse_rows("internal", COLUMNS, [_person(1, "Budi"), _row((2, "Mengetahui,")), lone], 10)
    assert _names(under) == ["Budi"]


def test_a_note_between_two_parts_of_a_table_does_not_swallow_data() -> None:
    rows = [
        _person(1, "Budi"),
        _row((2, "Catatan: pegawai bidang berikut pindahan dari Dinas Sosial")),
        _person(2, "Ani"),  # a valid phone: data again
        _person(3, "Rina", phone="-"),  # no contact, but a whole row of data
        _row((0, "Jumlah"), (6, 3)),
        [4, "Dinas Sosial", "Joko", None, None, None, None, None],  # three filled cells
    ]
    footer = Footer()
    records = parse_rows("internal", COLUMNS, rows, 10, footer)
    assert _names(records) == ["Budi", "Ani", "Rina", "Joko"]
    assert [r.row for r in records if r is not None] == [10, 12, 13, 15]  # row numbers kept
    assert footer.rows == 2


def test_a_data_row_with_a_contact_under_the_signature_is_data() -> None:
    rows = [_row((2, "Mengetahui,")), _row((2, "Kepala Dinas Sosial")),
            [None, None, "Budi", None, None, "0813-3448-1749", None, None]]
    assert _names(parse_rows("internal", COLUMNS, rows, 10)) == ["Budi"]


def test_footer_state_carries_over_chunks() -> None:
    footer = Footer()
    first = parse_rows("internal", COLUMNS, [_person(1, "Budi"), _row((2, "Mengetahui,"))], 10, footer)
    second = parse_rows("internal", COLUMNS, [_row((2, "Drs. Ahmad Yani")), _row((2, "NIP. 1970"))], 12, footer)
    assert _names(first) == ["Budi"] and _names(second) == [] and footer.rows == 3


# --- end to end, both backends ----------------------------------------------------------------

HEADER = ["No", "Unit Kerja", "Nama Pegawai", "Tanggal mulai bekerja di unit kerja", "Jabatan",
          "No. HP (WA) aktif", "E-mail aktif", "Keterangan"]


def _people() -> list[list[object]]:
    return [
        [1, "Dinas Sosial", "Budi Santoso", "13/10/2019", "Analis", "0813-3448-1749", None, "PNS"],
        [2, "Dinas Sosial", "Ani Lestari", "01/02/2018", "Penyuluh", "+62 812 3456 7890", None, "Honorer"],
        [3, "Dinas Sosial", "Rina Wati", "01/02/2018", "Penyuluh", None, None, "PNS"],  # no contact
    ]


def _check(session: Session, report: object, footer_rows: int) -> None:
    summary = report.summary()  # type: ignore[attr-defined]
    assert summary["internal"]["rows"] == 3
    assert summary["internal"]["eligible"] == 2 and summary["internal"]["unusable"] == {"no_valid_contact": 1}
    names = set(session.scalars(select(Person.name)))
    assert names == {"Budi Santoso", "Ani Lestari", "Rina Wati"}
    assert session.scalar(select(func.count()).select_from(Person)) == 3
    assert report.sheets[0]["footer_rows"] == footer_rows  # type: ignore[attr-defined]


def test_workbook_footer_is_not_imported(session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import population.importer as importer

    monkeypatch.setattr(importer, "PARSE_CHUNK", 2)  # the footer spans several chunks
    path = tmp_path / "pegawai.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["DATA POPULASI RESPONDEN INTERNAL (PEGAWAI)"])
    ws.append(HEADER)
    for row in _people():
        ws.append(row)
    ws.append(["dst"])
    for row in KPK_FOOTER:
        ws.append(row)
    wb.save(path)
    inst = make_institution(session)
    report = import_files(session, [path], inst, REF)
    session.commit()
    _check(session, report, 6)


def test_csv_footer_is_not_imported(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "pegawai.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows(_people())
        writer.writerows([["" if c is None else c for c in row] for row in KPK_FOOTER])
    inst = make_institution(session)
    report = import_files(session, [path], inst, REF)
    session.commit()
    _check(session, report, 6)
