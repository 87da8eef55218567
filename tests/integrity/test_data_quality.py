"""The data-quality input of the correction factor comes from a real population import
(population.synthetic workbook -> population.importer -> population.quality)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import Session, func, select

from core.models import Person
from integrity.service import correction_inputs
from population.importer import import_files
from population.synthetic import write_population_workbook
from tests.factories import make_campaign, make_institution

REF = date(2024, 6, 30)


def _clean_share(session: Session, institution_id: int, *groups: str) -> float:
    where = [Person.institution_id == institution_id]
    if groups:
        where.append(Person.group.in_(groups))  # type: ignore[attr-defined]
    rows = session.exec(select(func.count()).select_from(Person).where(*where)).one()
    clean = session.exec(select(func.count()).select_from(Person).where(*where, Person.status != "unusable")).one()
    return round(clean / rows, 4)


def test_data_quality_is_the_clean_share_of_the_imported_population(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "populasi.xlsx"
    write_population_workbook(path, seed=5, n_internal=120, n_external=100, reference_date=REF)
    inst = make_institution(session)
    import_files(session, [path], inst, REF)
    campaign = make_campaign(session, inst)
    session.commit()

    inputs = correction_inputs(session, campaign.id)  # type: ignore[arg-type]
    expected = _clean_share(session, inst.id)  # type: ignore[arg-type]
    assert 0.5 < expected < 1.0  # the messy file has unusable records
    assert inputs.data_quality == expected
    assert inputs.data_quality_by_form["internal"] == _clean_share(session, inst.id, "internal")  # type: ignore[arg-type]
    assert inputs.data_quality_by_form["external"] == _clean_share(session, inst.id, "external")  # type: ignore[arg-type]
    assert not [n for n in inputs.notes if "data quality" in n]


def test_no_population_means_unknown_not_zero(session: Session) -> None:
    inst = make_institution(session)
    campaign = make_campaign(session, inst)
    session.commit()
    inputs = correction_inputs(session, campaign.id)  # type: ignore[arg-type]
    assert inputs.data_quality is None
    assert any("data populasi belum diimpor" in n for n in inputs.notes)  # shown to the PIC: Indonesian


def test_population_totals_match_the_quality_report(session: Session, tmp_path: Path) -> None:
    """The correction input counts per form with one grouped query; it must agree with the
    population package's own report on a real (messy) import."""
    from integrity.service import population_totals
    from population.quality import quality_report

    path = tmp_path / "populasi.xlsx"
    write_population_workbook(path, seed=7, n_internal=80, n_external=60, reference_date=REF)
    inst = make_institution(session)
    import_files(session, [path], inst, REF)
    session.commit()
    report = quality_report(session, inst.id)  # type: ignore[arg-type]
    totals = population_totals(session, inst.id)  # type: ignore[arg-type]
    assert set(totals) == set(report.totals) and len(totals) >= 2
    for form, t in report.totals.items():
        assert (totals[form]["rows"], totals[form]["clean"]) == (t["rows"], t["clean"])
    assert any(t["clean"] < t["rows"] for t in totals.values())  # unusable records were counted out
