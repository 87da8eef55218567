"""Importing again never doubles a population: the same file again writes nothing and says so; a
changed list replaces its units' earlier lists (the diff is counted); after a draw a list cannot
be replaced, so nobody gets a second assignment. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.models import Assignment, Person
from population.errors import IntakeError
from population.importer import import_files
from population.models import ImportBatch
from population.sampling import draw_sample
from population.synthetic import write_population_csv
from tests.factories import make_campaign, make_institution

REF = date(2024, 6, 30)
NAME = 2  # column of the name in the internal form's CSV (No, Unit Kerja, Nama Pegawai, ...)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def people(session: Session, inst_id: int) -> list[tuple[str, str | None, str, str]]:
    rows = session.execute(select(Person.name, Person.phone, Person.group, Person.status)
                           .where(Person.institution_id == inst_id)).all()
    return sorted((n, p, g, s) for n, p, g, s in rows)


@pytest.fixture
def lists(tmp_path: Path) -> tuple[Path, Path]:
    """A clean internal list, and the same list with two people gone and one renamed."""
    first = tmp_path / "pegawai.csv"
    write_population_csv(first, seed=5, n_rows=60, form="internal", messy=False, reference_date=REF)
    with first.open(encoding="utf-8") as f:
        header, *rows = list(csv.reader(f, delimiter=";"))
    changed = [list(r) for r in rows[:-2]]
    changed[0][NAME] = changed[0][NAME] + " Baru"
    second = tmp_path / "pegawai-revisi.csv"
    with second.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=";").writerows([header, *changed])
    return first, second


def test_the_same_file_again_changes_nothing_and_says_so(session: Session, lists: tuple[Path, Path]) -> None:
    first, _ = lists
    inst = make_institution(session)
    report = import_files(session, [first], inst, REF)
    before = people(session, inst.id)  # type: ignore[arg-type]
    assert report.batch_id is not None and len(before) == 60 and report.unchanged == []
    again = import_files(session, [first], inst, REF)
    assert again.batch_id is None and again.unchanged == report.files  # says so
    assert people(session, inst.id) == before and count(session, ImportBatch) == 1  # type: ignore[arg-type]


def test_a_changed_list_replaces_the_unit_and_counts_the_diff(session: Session, lists: tuple[Path, Path]) -> None:
    first, second = lists
    inst, fresh = make_institution(session), make_institution(session, code="OTHER")
    import_files(session, [first], inst, REF)
    report = import_files(session, [second], inst, REF)
    assert {c.group for c in report.changes} == {"internal"}
    totals = [sum(getattr(c, k) for c in report.changes) for k in ("added", "removed", "changed")]
    assert totals == [0, 2, 1]  # units whose list is the same are not listed
    assert any(c.changed == 1 and "1 berubah" in c.describe() for c in report.changes)
    import_files(session, [second], fresh, REF)  # one import of the changed list, elsewhere
    assert people(session, inst.id) == people(session, fresh.id)  # type: ignore[arg-type]
    assert len(people(session, inst.id)) == 58  # type: ignore[arg-type]


def test_after_the_draw_a_list_cannot_be_replaced(session: Session, lists: tuple[Path, Path]) -> None:
    first, second = lists
    inst = make_institution(session)
    import_files(session, [first], inst, REF)
    campaign = make_campaign(session, inst)
    draw_sample(session, campaign, seed=7)
    session.commit()
    assigned, persons = count(session, Assignment), people(session, inst.id)  # type: ignore[arg-type]
    assert assigned > 0
    with pytest.raises(IntakeError, match="Sampel sudah ditarik"):
        import_files(session, [second], inst, REF)
    session.rollback()
    assert count(session, Assignment) == assigned and people(session, inst.id) == persons  # type: ignore[arg-type]
    again = import_files(session, [first], inst, REF)  # the same file after the draw: a no-op
    assert again.batch_id is None and count(session, Assignment) == assigned
    assert session.scalar(select(func.count(func.distinct(Assignment.person_id)))) == assigned  # one each
