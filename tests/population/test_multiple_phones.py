"""A phone cell holding two numbers ("0812-1111-2222 / 0813-3333-4444") is not thrown away: the
first mobile is used and the row carries a note (flag `multiple_phones`) in the data-quality
workbook, so the unit can check it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from core.models import Person
from population.normalize import first_mobile, has_several_phones
from population.quality import quality_report, write_xlsx
from population.rows import INVALID_EMAIL, MULTIPLE_PHONES, parse_row
from population.synthetic import write_population_workbook
from tests.factories import make_institution

REF = date(2024, 6, 30)


@pytest.mark.parametrize(("cell", "expected"), [
    ("0812-1111-2222 / 0813-3333-4444", "+6281211112222"),
    ("0812-1111-2222; 0813-3333-4444", "+6281211112222"),
    ("0812 1111 2222, 0813 3333 4444", "+6281211112222"),
    ("0812-1111-2222 atau 0813-3333-4444", "+6281211112222"),
    ("0812-1111-2222\n0813-3333-4444", "+6281211112222"),
    ("(0536) 322111 / 0813-3333-4444", "+6281333334444"),  # a landline first: the first mobile
])
def test_the_first_mobile_of_several(cell: str, expected: str) -> None:
    assert has_several_phones(cell)
    assert first_mobile(cell) == expected
    record = parse_row("internal", {"name": 0, "unit": 1, "phone": 2}, ["Budi", "Dinas A", cell], 7)
    assert record is not None and record.phone == expected and MULTIPLE_PHONES in record.flags


@pytest.mark.parametrize("cell", ["0812-1111-2222", "+62 812 1111 2222", "WA: 0812-1111-2222", "0812/1111/2222"])
def test_one_number_is_not_several(cell: str) -> None:
    assert not has_several_phones(cell)
    record = parse_row("internal", {"name": 0, "unit": 1, "phone": 2}, ["Budi", "Dinas A", cell], 7)
    assert record is not None and record.phone == "+6281211112222" and record.flags == []


def test_import_keeps_the_row_and_the_workbook_says_so(session: Session, tmp_path: Path) -> None:
    from population.importer import import_files

    path = tmp_path / "p.xlsx"
    write_population_workbook(path, seed=5, n_internal=30, n_external=10, reference_date=REF)
    wb = load_workbook(path)
    ws = wb["Internal"]
    row = next(r for r in ws.iter_rows(min_row=7) if r[2].value and r[5].value)  # a row with a name and a phone
    name = row[2].value
    row[5].value = "0812-1111-2222 / 0813-3333-4444"
    wb.save(path)
    inst = make_institution(session)
    import_files(session, [path], inst, REF)
    person = session.exec(select(Person).where(Person.name == name)).one()
    assert person.phone == "+6281211112222" and MULTIPLE_PHONES in person.flags
    assert person.status != "unusable" or person.reason != "no_valid_contact"
    out = write_xlsx(quality_report(session, inst.id), tmp_path / "kualitas.xlsx")  # type: ignore[arg-type]
    rows = [r for ws in load_workbook(out).worksheets[1:] for r in ws.iter_rows(values_only=True)]
    noted = [r for r in rows if r[4] == name]
    assert noted and noted[0][5] == "Lebih dari satu nomor HP dalam satu sel."
    assert "Nomor HP pertama yang dipakai" in noted[0][6]


def test_an_unusable_row_without_a_recorded_reason_gets_a_sentence() -> None:
    """The quality workbook of a population holding an unusable row with no reason (older data)
    crashed the whole export (AttributeError on None); it now explains the row."""
    from population.quality import ProblemRow

    row = ProblemRow("internal", "Budi", None, "a.xlsx", "Pegawai", 7)
    assert row.problem.startswith("Baris ini tidak dapat dipakai")
    assert row.how_to_fix.startswith("Periksa isi baris")


def test_an_invalid_email_is_reported_on_its_row_not_dropped_silently(session: Session, tmp_path: Path) -> None:
    """An email cell that is not an address ("budi.gmail.com") was dropped without a word; the row
    is still used by its phone, and the quality workbook names the row and how to fix it."""
    from population.importer import import_files

    path = tmp_path / "p.xlsx"
    write_population_workbook(path, seed=5, n_internal=30, n_external=10, reference_date=REF)
    wb = load_workbook(path)
    ws = wb["Internal"]
    header = next(r for r in ws.iter_rows(max_row=10) if any("mail" in str(c.value or "").lower() for c in r))
    at = next(i for i, c in enumerate(header) if "mail" in str(c.value or "").lower())
    data = [r for r in ws.iter_rows(min_row=header[0].row + 1)
            if r[2].value and str(r[5].value or "").lstrip("+").startswith(("08", "62"))]  # name and a phone
    row, other = data[0], data[1]
    name = row[2].value
    row[at].value = "budi.gmail.com"
    other[at].value = "-"  # an empty marker is not an address
    wb.save(path)
    inst = make_institution(session)
    import_files(session, [path], inst, REF)
    person = session.exec(select(Person).where(Person.name == name)).one()
    assert person.email is None and INVALID_EMAIL in person.flags and person.status != "unusable"
    marker = session.exec(select(Person).where(Person.name == other[2].value)).one()
    assert INVALID_EMAIL not in marker.flags
    out = write_xlsx(quality_report(session, inst.id), tmp_path / "kualitas.xlsx")  # type: ignore[arg-type]
    rows = [r for ws in load_workbook(out).worksheets[1:] for r in ws.iter_rows(values_only=True)]
    noted = [r for r in rows if r[4] == name]
    assert noted and noted[0][5].startswith("Alamat email tidak valid")
