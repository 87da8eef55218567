"""The report as a PDF (reportlab), shaped like chapter 4 of KPK's institution report."""

from __future__ import annotations

import io
from collections.abc import Sequence
from itertools import zip_longest
from pathlib import PurePath
from typing import Any
from xml.sax.saxutils import escape

import pypdfium2 as pdfium
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from reports import GROUP_LABELS, Report, correction_view
from reports.charts import Chart, report_charts
from reports.correction import ENTERED_TITLE, MEASURED_TITLE, SOURCE_LABELS

MAX_CHART_WIDTH = 17.5 * cm
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


class ChartSlot(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Reserves a chart's space in the story and notes where it landed (page, x, y); `_embed`
    then places the chart's own vector PDF there (reports.charts)."""

    def __init__(self, chart: Chart, marks: list[tuple[int, float, float, float, Chart]]) -> None:
        super().__init__()
        w, h = chart.size_pt
        self.scale = min(1.0, MAX_CHART_WIDTH / w)
        self.width, self.height = w * self.scale, h * self.scale
        self.chart, self.marks = chart, marks

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        x, y = self.canv.absolutePosition(0, 0)
        self.marks.append((self.canv.getPageNumber() - 1, x, y, self.scale, self.chart))


def _embed(document: bytes, marks: list[tuple[int, float, float, float, Chart]]) -> bytes:
    """Each chart's one-page PDF as a form XObject at its slot: vector, text stays text."""
    pdf = pdfium.PdfDocument(document)
    sources = []
    pages: dict[int, Any] = {}  # one handle per page: content is generated on the handle that got the objects
    for page_no, x, y, scale, chart in marks:
        src = pdfium.PdfDocument(chart.pdf())
        sources.append(src)  # kept open until the target is saved
        obj = src.page_as_xobject(0, pdf).as_pageobject()
        obj.transform(pdfium.PdfMatrix().scale(scale, scale).translate(x, y))
        page = pages.setdefault(page_no, pdf[page_no])
        page.insert_obj(obj)
    for page in pages.values():
        page.gen_content()
    out = io.BytesIO()
    pdf.save(out)
    for src in sources:
        src.close()
    pdf.close()
    return out.getvalue()


def _correction(report: Report) -> list[Any]:
    """The measured integrity signals beside the correction points entered by the PIC/KPK."""
    cv = correction_view(report)
    entered = [(name, f"{pts:.2f}") for name, pts in cv.entered] + [("Jumlah (dikurangkan)", f"{cv.total:.2f}")]
    rows = [[m[0], str(m[1]), e[0], e[1]] for m, e in zip_longest(cv.measured, entered, fillvalue=("", ""))]
    return [_table([MEASURED_TITLE, "Porsi", ENTERED_TITLE, "Poin"], rows, [6, 2, 6, 2]),
            Paragraph(escape(" ".join(cv.notes)), SMALL)]


def _formula(report: Report) -> list[Any]:
    f = report.formula
    if f is None:
        return []
    rows = [[p.label, f.labels[p.index], SOURCE_LABELS[p.source] + (f": {p.source_note}" if p.source_note else ""),
             "belum ada" if p.measure is None else (_f(p.measure, pct=True) if p.unit == "porsi"
                                                    else f"{p.measure:g} {p.unit}"),
             "-" if p.points is None else f"{p.points:.2f}", "-" if p.cost is None else f"{p.cost:.2f}"]
            for p in f.parts]
    rows.append(["Faktor koreksi menurut rumus", "", "", "", "", f"{f.factor:.2f}"])
    c = f.coefficients
    return [Paragraph("Faktor koreksi menurut rumus KPK", STYLES["Heading3"]),
            Paragraph(escape(f"Faktor koreksi = {c['corruption_prevalence']} x {f.labels['corruption_prevalence']} + "
                             f"{c['survey_integrity']} x {f.labels['survey_integrity']}."), SMALL),
            _table(["Bagian", "Indeks", "Sumber", "Ukuran", "Poin bagian", "Mengurangi indeks"], rows,
                   [4.4, 3.4, 3.6, 2, 1.8, 2])]


def _history(report: Report, style: Any) -> list[Any]:
    out: list[Any] = [Paragraph("Dari tahun ke tahun", style)]
    rows = [[h.year, *[_f(v) if v is not None else "-" for v in (h.index, h.internal, h.external, h.expert)],
             h.source] for h in report.history]
    out.append(_table(["Tahun", "Indeks", "Internal", "Eksternal", "Eksper", "Sumber"], rows,
                      [2, 2.4, 2.4, 2.4, 2.4, 5]))
    if report.target is not None:
        out.append(Paragraph(escape(f"Target Bappenas: {report.target:g}."), SMALL))
    return out


def _ranking(report: Report, style: Any) -> list[Any]:
    r = report.ranking
    out: list[Any] = [Paragraph("Peringkat di antara instansi sejenis", style)]
    if r is None:
        return [*out, Paragraph("Belum ada hasil instansi sejenis lain pada tahun ini.", SMALL)]
    out.append(Paragraph(escape(f"Peringkat {r.rank} dari {r.of} ({r.peer_class})."), BODY))
    out.append(_table(["Peringkat", "Instansi", "Indeks"],
                      [[rank, name + (" (instansi ini)" if mine else ""), _f(value)]
                       for rank, name, value, mine in r.rows],
                      [2.5, 10, 2.5], highlight=[i for i, row in enumerate(r.rows) if row[3]]))
    return out


def write(report: Report, path_or_buffer: Any) -> None:
    s = report.score
    charts = report_charts(report)
    marks: list[tuple[int, float, float, float, Chart]] = []

    def chart(key: str) -> list[Any]:
        return [ChartSlot(charts[key], marks), Spacer(1, 6)] if key in charts else []

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=1.6 * cm, rightMargin=1.6 * cm,
                            topMargin=1.5 * cm, bottomMargin=1.5 * cm,
                            title=f"Laporan SPI {report.year} - {report.institution}", author="spibot")
    h1, h2, h3 = STYLES["Heading1"], STYLES["Heading2"], STYLES["Heading3"]
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
              *_correction(report), *_formula(report), *chart("headline")]
    story += _history(report, h3) + chart("history")
    story += _ranking(report, h3) + chart("ranking")

    story.append(Paragraph("2. Responden dan partisipasi per unit", h2))
    story.append(_table(["Kelompok", "Sampel", "Menjawab"],
                        [[GROUP_LABELS[g], a, r] for g, (a, r) in report.respondents.items()], [9, 3, 3]))
    story.append(Spacer(1, 6))
    story.append(Paragraph("Profil responden", h3))
    story.append(Paragraph(escape(f"Jumlah kurang dari {s.min_cell} ditulis <{s.min_cell}."), SMALL))
    for p in report.profiles:
        story.append(Paragraph(escape(f"{GROUP_LABELS[p.group]} ({p.n} responden)"), STYLES["Heading4"]))
        if p.suppressed:
            story.append(Paragraph(escape(f"Disembunyikan: kurang dari {s.min_cell} responden."), SMALL))
            continue
        for t in p.tables:
            story.append(_table([t.title, "Jumlah", "Persentase"],
                                [[row.label, row.count if row.count is not None else f"<{s.min_cell}",
                                  _f(row.share, pct=True) if row.share is not None else "-"] for row in t.rows],
                                [9, 3, 3]))
            story += chart(f"profile_{p.group}_{t.question}")
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
    story += chart("units_internal") + chart("units_external")
    story.append(Paragraph("Tiga unit terendah dan dimensi terlemahnya", h3))
    story.append(_table(["Kelompok", "Unit", "Indeks", "Dimensi terlemah"],
                        [[GROUP_LABELS[u.group], u.label, _f(u.index),
                          "; ".join(f"{d} ({v:.2f})" for d, v in u.weakest)]
                         for u in report.lowest_units] or [["-", "-", "-", "-"]], [3, 5, 2, 7]))
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

    story.append(Paragraph("Peta risiko per unit", h3))
    for u in s.units:
        if u.items:
            story.append(Paragraph(escape(f"{GROUP_LABELS[u.group]}: {u.label} (n={u.n})"), STYLES["Heading4"]))
            story.append(_table(["Item", "Analisis", "Persentase", "Tingkat"],
                                [[i.reference, i.kind, _f(i.share, pct=True) if i.share is not None else "-",
                                  i.level or "-"] for i in u.items], [10, 2.2, 2.2, 3]))

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
    data = _embed(buf.getvalue(), marks)
    if isinstance(path_or_buffer, str | PurePath):
        with open(path_or_buffer, "wb") as fh:
            fh.write(data)
    else:
        path_or_buffer.write(data)
