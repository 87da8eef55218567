"""The score report shows the integrity signals the system measured beside the correction points
the PIC/KPK entered, in HTML, PDF and .xlsx alike."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlmodel import Session

from integrity.service import flag_campaign
from reports import build_report, render_html, write_pdf, write_xlsx
from responses.scoring import set_correction
from tests.integrity.helpers import build_world


def test_measured_signals_beside_entered_points(session: Session) -> None:
    w = build_world(session, n=40)
    cid = w.campaign.id
    flag_campaign(session, cid)  # type: ignore[arg-type]
    set_correction(session, cid, {"survey_integrity": 2.43})  # type: ignore[arg-type]
    session.commit()
    report = build_report(session, cid)  # type: ignore[arg-type]

    html = render_html(report)
    head = html.split("<h2>2. Responden")[0]  # beside the index, in section 1
    assert "Sinyal yang diukur sistem" in head and "Poin koreksi yang dimasukkan PIC/KPK" in head
    assert "Jawaban anomali</td><td class=\"num\">17,5%" in head  # 4 straight-lining + 3 too fast of 40
    assert "Responden lewat enumerator (CAPI/impor)</td><td class=\"num\">10,0%" in head
    assert "Kualitas data populasi (data bersih)</td><td class=\"num\">100,0%" in head
    assert "survey_integrity</td><td class=\"num\">2.43" in head

    buf = io.BytesIO()
    write_xlsx(report, buf)
    ws = load_workbook(io.BytesIO(buf.getvalue()))["Faktor koreksi"]
    cells = {(row[0], row[1]) for row in ws.iter_rows(values_only=True)} | {
        (row[3], row[4]) for row in ws.iter_rows(values_only=True) if len(row) > 4}
    assert ("Jawaban anomali", 0.175) in cells and ("survey_integrity", 2.43) in cells  # a number, not text
    assert next(r[1] for r in ws.iter_rows() if r[0].value == "Jawaban anomali").number_format == "0.0%"
    assert ("Jumlah (dikurangkan)", 2.43) in cells

    pdf = io.BytesIO()
    write_pdf(report, pdf)
    assert pdf.getvalue().startswith(b"%PDF") and len(pdf.getvalue()) > 2000


def test_report_without_entered_points_says_so(session: Session) -> None:
    w = build_world(session, n=12)
    html = render_html(build_report(session, w.campaign.id))  # type: ignore[arg-type]
    assert "Belum ada poin yang dimasukkan." in html
    assert "Sinyal yang diukur sistem" in html
