"""The report as a PDF (reportlab), shaped like chapter 4 of KPK's institution report."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import zip_longest
from pathlib import PurePath
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from reports import GROUP_LABELS, Report, correction_view
from reports.correction import ENTERED_TITLE, MEASURED_TITLE

STYLES = getSampleStyleSheet()
BODY = STYLES["BodyText"]
SMALL = STYLES["BodyText"].clone("small", fontSize=8, leading=10)
HIDDEN = "disembunyikan"
GRID = TableStyle([
    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c7cbd1")),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eaed")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("FONTSIZE", (0, 0), (-1, -1), 8),
])


def _f(value: float | None, pct: bool = False) -> str:
    if value is None:
        return HIDDEN
    return f"{value * 100:.1f}%" if pct else f"{value:.2f}"


def _p(text: Any) -> Paragraph:
    return Paragraph(escape(str(text)), SMALL)


def _table(
    header: list[str], rows: list[list[Any]], widths: Sequence[float], highlight: list[int] | None = None
) -> Table:
    data = [[_p(h) for h in header]] + [[_p(c) for c in row] for row in rows]
    table = Table(data, colWidths=[w * cm for w in widths], repeatRows=1)
    style = TableStyle(GRID.getCommands())
    for r in highlight or []:
        style.add("BACKGROUND", (0, r + 1), (-1, r + 1), colors.HexColor("#fdecea"))
    table.setStyle(style)
    return table


def _chart(rows: list[tuple[str, float | None]]) -> Drawing:
    shown = [(label[:28], value) for label, value in rows if value is not None]
    height = max(60, 22 * len(shown) + 30)
    drawing = Drawing(16 * cm, height)
    if not shown:
        return drawing
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 150, 20, 16 * cm - 170, height - 30
    chart.data = [[v for _, v in shown]]
    chart.categoryAxis.categoryNames = [label for label, _ in shown]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 10
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor("#7a1018")
    chart.barLabelFormat = "%.2f"
    chart.barLabels.fontSize = 7
    chart.barLabels.nudge = 12
    drawing.add(chart)
    return drawing


def _correction(report: Report) -> list[Any]:
    """The measured integrity signals beside the correction points entered by the PIC/KPK."""
    cv = correction_view(report)
    entered = [(name, f"{pts:.2f}") for name, pts in cv.entered] + [("Jumlah (dikurangkan)", f"{cv.total:.2f}")]
    rows = [[m[0], str(m[1]), e[0], e[1]] for m, e in zip_longest(cv.measured, entered, fillvalue=("", ""))]
    return [_table([MEASURED_TITLE, "Porsi", ENTERED_TITLE, "Poin"], rows, [6, 2, 6, 2]),
            Paragraph(escape(" ".join(cv.notes)), SMALL)]


def write(report: Report, path_or_buffer: Any) -> None:
    s = report.score
    # reportlab takes a file name as str (a Path fails with a TypeError) or a binary buffer
    target = str(path_or_buffer) if isinstance(path_or_buffer, PurePath) else path_or_buffer
    doc = SimpleDocTemplate(target, pagesize=A4, leftMargin=1.6 * cm, rightMargin=1.6 * cm,
                            topMargin=1.5 * cm, bottomMargin=1.5 * cm,
                            title=f"Laporan SPI {report.year} - {report.institution}", author="spibot")
    h1, h2 = STYLES["Heading1"], STYLES["Heading2"]
    story: list[Any] = [
        Paragraph(escape(f"Laporan SPI {report.year}: {report.institution}"), h1),
        Paragraph(escape(report.campaign + ". " + " ".join(report.notes)), BODY),
        Paragraph("1. Indeks Integritas", h2),
        Paragraph(escape(f"Indeks Integritas: {_f(s.index) if s.index is not None else '-'} "
                         f"({s.category or '-'}); faktor koreksi {s.correction:.2f}."), BODY),
    ]
    rows = [[GROUP_LABELS[g], res.n, _f(res.index)] for g, res in s.groups.items()]
    rows += [[f"Koreksi: {k}", "", f"{v:.2f}"] for k, v in s.correction_parts.items()]
    rows += [[f"Indeks {y}", "", f"{v:.2f}"] for y, v in sorted(s.history.items())]
    story += [_table(["Komponen", "Responden", "Nilai"], rows, [9, 3, 3]), Spacer(1, 6),
              *_correction(report),
              _chart([("Indeks Integritas", s.index)] + [(GROUP_LABELS[g], r.index) for g, r in s.groups.items()])]

    story.append(Paragraph("2. Responden dan partisipasi per unit", h2))
    story.append(_table(["Kelompok", "Sampel", "Menjawab"],
                        [[GROUP_LABELS[g], a, r] for g, (a, r) in report.respondents.items()], [9, 3, 3]))
    story.append(Spacer(1, 6))
    part = report.participation
    story.append(_table(
        ["Unit", "Internal", "Eksternal", "Eksper", "Partisipasi"],
        [[u.name + (" (terendah)" if u.lowest else ""),
          *[f"{u.responded.get(g, 0)}/{u.assigned.get(g, 0)}" for g in ("internal", "external", "expert")],
          _f(u.rate, pct=True) if u.rate is not None else "-"] for u in part],
        [7, 2.4, 2.4, 2.4, 2.6], highlight=[i for i, u in enumerate(part) if u.lowest]))

    story.append(Paragraph("3. Indeks per unit dan jenis layanan", h2))
    story.append(_table(["Kelompok", "Unit", "Responden", "Indeks", "Kategori"],
                        [[GROUP_LABELS[u.group], u.label, u.n, _f(u.index), u.category or "-"] for u in s.units],
                        [4, 6.5, 2, 2, 2.3]))
    story.append(_chart([(u.label, u.index) for u in s.units if u.group == "internal"]))
    story.append(_table(["Jenis layanan", "Responden", "Indeks", "Kategori"],
                        [[b.label, b.n, _f(b.index), b.category or "-"] for b in s.service_types], [8, 2.5, 2.5, 3]))

    story.append(Paragraph("4. Nilai eksper per variabel", h2))
    story.append(_table(
        ["Variabel", "Semua", *[f"{b.label} (n={b.n})" for b in s.expert_groups]],
        [[report.variable_labels.get(("expert", v), v), _f(val), *[_f(b.variables.get(v)) for b in s.expert_groups]]
         for v, val in s.groups["expert"].variables.items()],
        [9, 2] + [3] * len(s.expert_groups)))

    story.append(Paragraph("5. Peta risiko", h2))
    for g, res in s.groups.items():
        story.append(Paragraph(escape(GROUP_LABELS[g]), STYLES["Heading3"]))
        story.append(_table(["Item", "Analisis", "Persentase", "Tingkat"],
                            [[i.reference, i.kind, _f(i.share, pct=True), i.level or HIDDEN] for i in res.items],
                            [10, 2.2, 2.2, 3]))

    story.append(Paragraph("6. Pengalaman pengguna layanan", h2))
    e = s.experience
    if e is None or e.suppressed:
        story.append(Paragraph(f"Disembunyikan: responden eksternal kurang dari {s.min_cell}.", BODY))
    else:
        story.append(Paragraph(escape(f"Dari {e.n} responden eksternal, {_f(e.asked_share, True)} pernah dimintai "
                                      f"dan {_f(e.gave_share, True)} pernah memberikan uang, barang, atau fasilitas."),
                               BODY))
        for d in e.details:
            rows = [[k, v] for k, v in d.counts.items()] if not d.suppressed else [[HIDDEN, ""]]
            story.append(_table([d.question, "Jumlah"], rows, [12, 3]))

    story.append(Paragraph("7. Rencana aksi", h2))
    story.append(_table(["Tingkat", "Dimensi", "Variabel", "Rekomendasi", "Area MCP", "Waktu"],
                        [[a.level, a.dimension, a.variable, a.recommendation, a.mcp_area, a.timing]
                         for a in report.actions],
                        [2, 2.6, 4, 5.4, 2.2, 1.6]))
    doc.build(story)
