from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import Session
from typer.testing import CliRunner

from population.importer import import_files
from population.quality import quality_report, write_xlsx
from population.synthetic import write_population_workbook
from tests.factories import make_campaign, make_institution

REF = date(2024, 6, 30)


def test_quality_report_and_workbook(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    expected = write_population_workbook(path, seed=5, n_internal=200, n_external=150, reference_date=REF)
    inst = make_institution(session)
    import_files(session, [path], inst, REF)
    report = quality_report(session, inst.id)  # type: ignore[arg-type]
    summary = expected.summary()
    internal = summary["internal"]
    kept = internal["rows"] - internal["duplicates"]
    assert report.totals["internal"]["rows"] == kept
    assert report.totals["internal"]["clean"] == kept - sum(internal["unusable"].values())
    unusable = sum(sum(u.unusable.values()) for u in report.units)
    assert unusable == sum(sum(f["unusable"].values()) for f in summary.values())
    worst = report.units[0]
    assert worst.clean_pct == min(u.clean_pct for u in report.units)
    assert all(len(u.examples) <= 5 for u in report.units)
    out = write_xlsx(report, tmp_path / "kualitas.xlsx")
    wb = load_workbook(out, read_only=True)
    assert wb.sheetnames[0] == "Ringkasan" and len(wb.sheetnames) > 1
    rows = list(wb[wb.sheetnames[1]].iter_rows(values_only=True))
    assert rows[1][:3] == ("Berkas", "Sheet", "Baris") and rows[2][0] == "p.xlsx" and rows[2][6]


def test_cli_import_json_quality_and_sample(session: Session, tmp_path: Path) -> None:
    from cli import app

    path = tmp_path / "p.xlsx"
    expected = write_population_workbook(path, seed=8, n_internal=120, n_external=100, reference_date=REF)
    inst = make_institution(session, code="KAB-UJI")
    campaign = make_campaign(session, inst)
    session.commit()
    runner = CliRunner()
    result = runner.invoke(app, ["population", "import", str(path), "--institution", "KAB-UJI",
                                 "--reference-date", "2024-06-30", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected.summary()
    result = runner.invoke(app, ["population", "import", str(path), "--institution", "KAB-UJI",
                                 "--reference-date", "2024-06-30"])  # the same file again
    assert result.exit_code == 0 and "Tidak ada perubahan" in result.output and "p.xlsx" in result.output
    result = runner.invoke(app, ["population", "import", str(path), "--institution", "TIDAK-ADA",
                                 "--reference-date", "2024-06-30"])
    assert result.exit_code == 2 and "TIDAK-ADA" in result.output and "institution add" in result.output
    result = runner.invoke(app, ["population", "import", str(path), "--institution", "KAB-UJI",
                                 "--reference-date", "30/06/2024"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
    result = runner.invoke(app, ["population", "quality", "--institution", "KAB-UJI",
                                 "--xlsx", str(tmp_path / "q.xlsx")])
    assert result.exit_code == 0 and (tmp_path / "q.xlsx").exists()
    result = runner.invoke(app, ["sample", "--campaign", str(campaign.id), "--seed", "42"])
    assert result.exit_code == 0, result.output
    assert "seed: 42" in result.output and "population hash" in result.output
    result = runner.invoke(app, ["sample", "--campaign", str(campaign.id)])
    assert result.exit_code == 2 and "already drawn" in result.output.replace("\n", " ")
