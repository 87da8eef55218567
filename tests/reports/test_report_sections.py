"""The full report (issue 24 part 1) for a synthetic national run and for the demo: every section
present, every chart non-empty, the minimum cell size on every profile breakdown, history with the
Bappenas target, the peer ranking per class, per-unit risk maps and the lowest units."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook
from sqlmodel import Session

from reports import Report, build_report, render_html, set_history, write_pdf, write_xlsx
from reports.charts import report_charts
from reports.profile import profile_table, suppress
from tests.reports.helpers import institution_with_responses

NS = "{http://www.w3.org/2000/svg}"
SECTIONS = ("1. Indeks Integritas", "Faktor koreksi menurut rumus KPK", "Dari tahun ke tahun",
            "Peringkat di antara instansi sejenis", "2. Responden dan partisipasi", "Profil responden",
            "3. Indeks per unit", "Tiga unit terendah dan dimensi terlemahnya", "5. Peta risiko",
            "Peta risiko per unit", "6. Pengalaman pengguna layanan", "7. Rencana aksi")


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]  # noqa: S314


def _assert_charts_non_empty(report: Report, html: str) -> None:
    svgs = _svgs(html)
    assert len(svgs) == len(report_charts(report)) >= 4
    for svg in svgs:
        marks = [p for p in svg.iter(f"{NS}path") if "clip-path" in p.attrib]  # bars/lines inside the axes
        text = "".join(svg.itertext())
        # drawn, or (a profile breakdown wholly suppressed) every row written "<min_cell"
        assert marks or f"<{report.score.min_cell}" in text, svg.get("aria-label")
        assert len(text.split()) >= 3, svg.get("aria-label")


def _assert_min_cell(report: Report) -> None:
    """Every profile breakdown: no shown count below min_cell, never a lone suppressed cell."""
    m = report.score.min_cell
    checked = 0
    for p in report.profiles:
        if p.n < m:
            assert p.suppressed and not p.tables
        for t in p.tables:
            counts = [r.count for r in t.rows]
            assert all(c is None or c == 0 or c >= m for c in counts), (p.group, t.question, counts)
            assert counts.count(None) != 1, (p.group, t.question, counts)
            checked += 1
    assert checked >= 10  # gender, age, education, tenure, service type, expert criteria...


def _pdf_charts(report: Report) -> int:
    buf = io.BytesIO()
    write_pdf(report, buf)
    doc = pdfium.PdfDocument(buf.getvalue())
    try:
        return sum(1 for page in doc for obj in page.get_objects(max_depth=1)
                   if obj.type == pdfium.raw.FPDF_PAGEOBJ_FORM)
    finally:
        doc.close()


@pytest.mark.slow
def test_synthetic_national_run(session: Session) -> None:
    """Proves: for one institution among peers of three classes, the report has every section,
    every chart drawn (HTML SVG and embedded vector PDF forms), the ranking only among
    kabupaten/kota, the entered history with the target, three lowest units per group with their
    weakest dimensions and a risk map per unit."""
    kinds = ["kabupaten", "kabupaten", "kota", "provinsi", "provinsi", "kementerian"]
    made = [institution_with_responses(session, kind=k, seed=n, units=4, mean=4.2 + 0.15 * n)
            for n, k in enumerate(kinds)]
    for inst, camp, _ in made[1:]:  # the other institutions' results are in the system
        r = build_report(session, camp.id)  # type: ignore[arg-type]
        assert r.score.index is not None
        set_history(session, inst.id, 2024, r.score.index, source="spibot")  # type: ignore[arg-type]
    inst, camp, units = made[0]
    set_history(session, inst.id, 2022, 68.5, internal=70.0, external=71.2, expert=65.1,  # type: ignore[arg-type]
                source="KPK 2022 (publikasi)")
    set_history(session, inst.id, 2023, 71.03, source="KPK 2023 (publikasi)")  # type: ignore[arg-type]
    session.commit()

    report = build_report(session, camp.id)  # type: ignore[arg-type]
    html = render_html(report)
    for title in SECTIONS:
        assert title in html, title
    _assert_charts_non_empty(report, html)
    _assert_min_cell(report)
    assert [h.year for h in report.history] == [2022, 2023, 2024] and report.target == 78
    assert "KPK 2023 (publikasi)" in html and "Target Bappenas 78" in html

    assert report.ranking is not None and report.ranking.peer_class == "Pemerintah kabupaten/kota"
    assert report.ranking.of == 3  # two kabupaten and one kota; not the provinces or the ministry
    assert f"Peringkat {report.ranking.rank} dari 3" in html

    low = [u for u in report.lowest_units if u.group == "internal"]
    assert len(low) == 3 and [u.index for u in low] == sorted(u.index for u in low)
    assert all(len(u.weakest) == 2 and u.weakest[0][1] <= u.weakest[1][1] for u in low)
    shown = [u for u in report.score.units if u.items]
    assert len(shown) == 8  # 4 units x internal/external, each above the minimum cell size
    assert html.count('class="unit-risk"') == 8
    assert all(any(i.level for i in u.items) for u in shown)

    assert _pdf_charts(report) == len(report_charts(report))
    buf = io.BytesIO()
    write_xlsx(report, buf)
    book = load_workbook(io.BytesIO(buf.getvalue()))
    assert {"Ringkasan", "Rumus koreksi", "Riwayat", "Peringkat", "Profil responden", "Unit terendah",
            "Peta risiko unit"} <= set(book.sheetnames)
    counts = [row[3] for row in book["Profil responden"].iter_rows(min_row=2, values_only=True)]
    assert all(c == f"<{report.score.min_cell}" or c == 0 or c >= report.score.min_cell for c in counts)
    assert f"<{report.score.min_cell}" in counts


def test_min_cell_rule_on_a_small_group(session: Session) -> None:
    """Proves: a group below the minimum cell size shows no profile at all; in a shown group a
    small cell is written '<5' in HTML and never as its number."""
    _, camp, _ = institution_with_responses(session, units=2, per_unit={"internal": 6, "external": 1}, experts=4)
    report = build_report(session, camp.id)  # type: ignore[arg-type]
    by_group = {p.group: p for p in report.profiles}
    assert by_group["external"].suppressed and by_group["expert"].suppressed
    assert not by_group["internal"].suppressed
    _assert_min_cell_loose(report)
    html = render_html(report)
    assert "&lt;5" in html or "<5" in html


def _assert_min_cell_loose(report: Report) -> None:
    m = report.score.min_cell
    for p in report.profiles:
        for t in p.tables:
            counts = [r.count for r in t.rows]
            assert all(c is None or c == 0 or c >= m for c in counts)
            assert counts.count(None) != 1


@pytest.mark.parametrize(("counts", "expected"), [
    ([("L", 9), ("P", 2)], [None, None]),  # a lone small cell takes the other one with it
    ([("a", 9), ("b", 2), ("c", 3)], [9, None, None]),
    ([("a", 9), ("b", 6), ("c", 0)], [9, 6, 0]),  # zero reveals no one
    ([("a", 9), ("b", 6), ("c", 2)], [9, None, None]),  # the smallest other cell is hidden too
])
def test_suppression_rule(counts: list[tuple[str, int]], expected: list[int | None]) -> None:
    """Proves: primary (1..4) and secondary suppression per breakdown."""
    assert [c for _, c in suppress(counts, 5)] == expected


def test_unknown_and_missing_answers_count_as_not_answered() -> None:
    """Proves: the base is every respondent; an unanswered/unknown code is its own row."""
    t = profile_table("internal", "jenis_kelamin", "Jenis kelamin", [("L", "Laki-laki"), ("P", "Perempuan")],
                      ["L"] * 7 + ["P"] * 6 + [None] * 5 + ["X"], 5)
    assert t.base == 19 and [(r.label, r.count) for r in t.rows] == [
        ("Laki-laki", 7), ("Perempuan", 6), ("Tidak diisi", 6)]


@pytest.mark.slow
def test_demo_report(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves: the demo's campaign, once answered, gives a report with every section and every
    chart drawn, and `spibot score report` still writes html, pdf and xlsx for it."""
    import random

    from sqlmodel import select
    from typer.testing import CliRunner

    from app.cli import app as spibot
    from app.demo import load_demo
    from core.config import reset_settings
    from core.db import session_scope
    from core.models import Assignment, Campaign
    from responses.service import submit_answers
    from tests.reports.helpers import answers

    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    reset_settings()
    campaign = load_demo(tmp_path)["campaign"]
    assert isinstance(campaign, Campaign)
    rng = random.Random(7)
    with session_scope(write=True) as session:
        people = session.exec(select(Assignment).where(Assignment.campaign_id == campaign.id)).all()
        people = sorted(people, key=lambda a: (a.group != "expert", a.id))  # every expert, then 160 others
        for a in people[:160 + sum(1 for a in people if a.group == "expert")]:
            group = a.group if a.group in ("internal", "external", "expert") else "external"
            submit_answers(session, a, answers(group, rng, 4.5))
    with session_scope() as session:
        report = build_report(session, campaign.id)  # type: ignore[arg-type]
        html = render_html(report)
    assert report.score.index is not None  # all three groups answered: an index to keep for peers
    for title in SECTIONS:
        assert title in html, title
    _assert_charts_non_empty(report, html)
    _assert_min_cell_loose(report)
    out = CliRunner().invoke(spibot, ["score", "report", "--campaign", str(campaign.id),
                                      "--html", str(tmp_path / "r.html"), "--pdf", str(tmp_path / "r.pdf"),
                                      "--xlsx", str(tmp_path / "r.xlsx")])
    assert out.exit_code == 0, out.stdout
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert len(_svgs((tmp_path / "r.html").read_text(encoding="utf-8"))) == len(report_charts(report))
    with session_scope() as session:  # the written report's index is kept for peers' rankings
        from responses import IndexHistory
        stored = session.exec(select(IndexHistory).where(IndexHistory.institution_id == campaign.institution_id)).one()
        assert stored.source == "spibot" and stored.index == report.score.index
