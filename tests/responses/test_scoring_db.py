"""Scoring stored responses: per institution, unit, service type, expert group; minimum cell size;
flagged responses; and the report renderings (HTML, PDF, XLSX)."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import Session

from reports import build_report, render_html, write_pdf, write_xlsx
from responses.models import Response
from responses.scoring import score_institution, set_correction
from responses.service import submit_answers
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit
from tests.responses.helpers import full_answers, questionnaire


def _campaign(session: Session, sizes: dict[tuple[str, str], int], value: int = 5,
              extra: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """sizes: (unit name, group) -> number of submitted respondents."""
    inst = make_institution(session, name="Kabupaten Contoh")
    camp = make_campaign(session, inst, year=2024)
    units: dict[str, Any] = {}
    for (unit_name, group), n in sizes.items():
        unit = units.get(unit_name) or make_unit(session, inst, name=unit_name)
        units[unit_name] = unit
        for _ in range(n):
            person = make_person(session, unit, group=group)
            assignment, _ = make_assignment(session, camp, person)
            answers = {**full_answers(questionnaire("external" if group == "vendor" else group), value),
                       **(extra or {})}
            if group in ("external", "vendor"):
                answers["jenis_layanan"] = "pbj" if group == "vendor" else "non_pbj"
            submit_answers(session, assignment, answers)
    session.commit()
    return camp, units


def test_hand_computed_institution(session: Session) -> None:
    camp, _ = _campaign(session, {("Dinas A", "internal"): 5, ("Dinas A", "external"): 5, ("Dinas A", "expert"): 5})
    s = score_institution(session, camp.id)
    # Likert 5 -> 80 everywhere; negated raw 5 -> 2 -> 20; experience "tidak" -> 100 (one is too many).
    # Internal: every variable has a negated keberadaan (20) + negated risiko (20) item except the three
    # budget "Pengalaman" variables (100 + 20) and the 10 prevention variables (80).
    internal = {d: v for d, v in s.groups["internal"].dimensions.items()}
    assert internal["trading_in_influence"] == 20.0
    assert internal["budget"] == pytest.approx((5 * 20 + 3 * 60) / 8, abs=0.01)
    assert internal["transparency"] == 80.0
    assert s.groups["expert"].index == 50.0  # likert 80 + negated 20 per variable
    assert s.index is not None and s.category is not None
    set_correction(session, camp.id, {"corruption_prevalence": 2.5, "survey_integrity": 2.43}, {2023: 68.22})
    s2 = score_institution(session, camp.id)
    assert s2.correction == 4.93
    assert s2.index == pytest.approx(s.index - 4.93, abs=0.011)
    assert s2.history == {2023: 68.22}


def test_minimum_cell_size_in_scores_pages_and_exports(session: Session) -> None:
    camp, units = _campaign(session, {("Dinas Besar", "internal"): 5, ("Dinas Kecil", "internal"): 4,
                                      ("Dinas Besar", "external"): 6, ("Dinas Besar", "vendor"): 3,
                                      ("Dinas Besar", "expert"): 4}, value=3)
    s = score_institution(session, camp.id)
    by_label = {(u.group, u.label): u for u in s.units}
    big, small = by_label[("internal", "Dinas Besar")], by_label[("internal", "Dinas Kecil")]
    assert big.index is not None and not big.suppressed
    assert small.index is None and small.suppressed and small.n == 4
    pbj = next(b for b in s.service_types if b.key == "pbj")
    assert pbj.n == 3 and pbj.index is None
    assert s.groups["expert"].suppressed and s.groups["expert"].index is None
    assert all(i.share is None and i.level is None for i in s.groups["expert"].items)
    assert s.index is None  # no index from a suppressed sub-index
    report = build_report(session, camp.id)
    html = render_html(report)
    assert "Dinas Kecil" in html and "disembunyikan" in html
    small_value = f"{small.n}</td>"
    assert small_value in html  # the count is shown, the score is not
    buf = io.BytesIO()
    write_xlsx(report, buf)
    wb = load_workbook(io.BytesIO(buf.getvalue()))
    rows = {(r[0], r[1]): r for r in wb["Indeks unit"].iter_rows(min_row=2, values_only=True)}
    assert rows[("Internal (pegawai)", "Dinas Kecil")][3] == "disembunyikan"
    assert isinstance(rows[("Internal (pegawai)", "Dinas Besar")][3], float)
    for row in wb["Peta risiko"].iter_rows(min_row=2, values_only=True):
        if row[0] == "Eksper":
            assert row[4] == "disembunyikan"
    assert wb["Rencana aksi"].max_row > 10
    pdf = io.BytesIO()
    write_pdf(report, pdf)
    assert pdf.getvalue().startswith(b"%PDF") and len(pdf.getvalue()) > 5000


def test_flagged_responses_can_be_left_out(session: Session) -> None:
    camp, _ = _campaign(session, {("Dinas A", "internal"): 6})
    rows = session.exec(__import__("sqlmodel").select(Response)).all()
    rows[0].flagged = True
    rows[1].review_status = "excluded"
    session.add_all(rows[:2])
    session.commit()
    assert score_institution(session, camp.id).groups["internal"].n == 5
    assert score_institution(session, camp.id, include_flagged=False).groups["internal"].n == 4


def test_experience_findings_and_action_plan(session: Session) -> None:
    q = questionnaire("external")
    extra = {"employee_integrity_2_k": "ya", "employee_integrity_3_k": "ya", "pemberian_cara": "dengan_kesepakatan",
             "pemberian_frekuensi": "2_3", "pemberian_nilai": "lt50k", "pemberian_alasan": "mempercepat"}
    assert all(q.question(k) for k in extra)
    camp, _ = _campaign(session, {("Dinas A", "external"): 5}, extra=extra)
    report = build_report(session, camp.id)
    e = report.score.experience
    assert e is not None and e.asked_share == 1.0 and e.gave_share == 1.0
    nilai = next(d for d in e.details if "nilai" in d.question)
    assert nilai.counts == {"Kurang dari Rp 50.000": 5}
    levels = {a.level for a in report.actions if a.group == "external"}
    assert "Sangat Tinggi" in levels  # everyone was asked for money
    first = report.actions[0]
    assert first.level == "Sangat Tinggi" and first.recommendation.startswith("Prioritas utama")


def test_random_answers_score_within_range(session: Session) -> None:
    rng = random.Random(7)
    inst = make_institution(session)
    camp = make_campaign(session, inst, year=2024)
    unit = make_unit(session, inst)
    for _ in range(8):
        a, _ = make_assignment(session, camp, make_person(session, unit, group="internal"))
        submit_answers(session, a, full_answers(questionnaire("internal"), rng=rng))
    session.commit()
    res = score_institution(session, camp.id).groups["internal"]
    assert res.index is not None and 0 < res.index < 100
    assert all(0 <= i.share <= 1 for i in res.items if i.share is not None)


def test_report_routes_and_cli(session: Session, db_url: str, tmp_path: Any) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from app.cli import app as spibot  # `score report` joins the group from reports.cli
    from reports.router import report_router
    from responses.router import router

    camp, _ = _campaign(session, {("Dinas A", "internal"): 5, ("Dinas A", "external"): 5, ("Dinas A", "expert"): 5})
    public = FastAPI()
    public.include_router(router)
    assert TestClient(public).get(f"/laporan/{camp.id}").status_code == 404  # not public
    app = FastAPI()
    app.include_router(report_router)
    client = TestClient(app)
    page = client.get(f"/laporan/{camp.id}")
    assert page.status_code == 200 and "Kabupaten Contoh" in page.text and "<script" not in page.text
    pdf = client.get(f"/laporan/{camp.id}/unduh.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"/laporan/{camp.id}/unduh.doc").status_code == 404
    assert client.get("/laporan/999999").status_code == 404
    out = CliRunner().invoke(spibot, ["score", "report", "--campaign", str(camp.id), "--xlsx", str(tmp_path / "r.xlsx"),
                                      "--pdf", str(tmp_path / "r.pdf"), "--html", str(tmp_path / "r.html")])
    assert out.exit_code == 0, out.stdout
    assert "indeks" in out.stdout and (tmp_path / "r.xlsx").stat().st_size > 5000
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")  # a Path, not only a buffer
    assert "Indeks" in (tmp_path / "r.html").read_text(encoding="utf-8")
    out = CliRunner().invoke(spibot, ["score", "correction", "--campaign", str(camp.id),
                                      "--part", "survey_integrity=abc"])
    assert out.exit_code == 2 and "name=number" in out.stdout
