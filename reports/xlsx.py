"""The report's tables as an .xlsx workbook, plus the action-plan matrix (rencana aksi) to complete."""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from core.numbers import PERCENT_FORMAT, Percent, share
from reports import GROUP_LABELS, Report, correction_view
from reports.correction import ENTERED_TITLE, MEASURED_TITLE, SOURCE_LABELS

HIDDEN = "disembunyikan"
BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="DDE1E6")
LOW_FILL = PatternFill("solid", fgColor="FDECEA")


def _v(value: float | None) -> Any:
    return HIDDEN if value is None else value


def _percent_cells(wb: Workbook) -> None:
    """Percent values as numbers with a percent format (never text)."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, Percent):
                    cell.value = float(cell.value)
                    cell.number_format = PERCENT_FORMAT


def _sheet(wb: Workbook, title: str, header: list[str], rows: list[list[Any]],
           widths: list[int] | None = None) -> Worksheet:
    ws = wb.create_sheet(title)
    ws.append(header)
    for cell in ws[1]:
        cell.font, cell.fill = BOLD, HEAD_FILL
    for row in rows:
        ws.append(row)
    for i, w in enumerate(widths or [], start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = w
    ws.freeze_panes = "A2"
    return ws


def _correction_sheet(wb: Workbook, report: Report) -> None:
    """Measured integrity signals (A-B) beside the correction points entered by the PIC/KPK (D-E)."""
    cv = correction_view(report)
    entered: list[tuple[str, Any]] = [*cv.entered, ("Jumlah (dikurangkan)", cv.total)]
    rows = [[m[0], m[1], None, e[0], e[1]] for m, e in zip_longest(cv.measured, entered, fillvalue=(None, None))]
    ws = _sheet(wb, "Faktor koreksi", [MEASURED_TITLE, "Porsi", "", ENTERED_TITLE, "Poin"], rows,
                [44, 10, 3, 40, 10])
    ws.append([])
    for note in cv.notes:
        ws.append([note])


def _issue24_sheets(wb: Workbook, report: Report) -> None:
    """The correction formula part by part, history, ranking, respondent profile, lowest units and
    per-unit risk maps (the same rows as the HTML/PDF sections)."""
    m = report.score.min_cell
    f = report.formula
    if f is not None:
        rows: list[list[Any]] = [[p.label, f.labels[p.index], SOURCE_LABELS[p.source], p.source_note,
                                  p.measure if p.measure is not None else "belum ada", p.unit,
                                  p.points if p.points is not None else "-", p.cost if p.cost is not None else "-"]
                                 for p in f.parts]
        rows.append(["Faktor koreksi menurut rumus", "", "", "", "", "", "", f.factor])
        _sheet(wb, "Rumus koreksi", ["Bagian", "Indeks", "Sumber", "Keterangan sumber", "Ukuran", "Satuan",
                                     "Poin bagian", "Mengurangi indeks"], rows, [40, 34, 20, 30, 10, 10, 12, 16])
    _sheet(wb, "Riwayat", ["Tahun", "Indeks", "Internal", "Eksternal", "Eksper", "Sumber"],
           [[h.year, *["-" if v is None else v for v in (h.index, h.internal, h.external, h.expert)], h.source]
            for h in report.history] + ([["Target Bappenas", report.target]] if report.target is not None else []),
           [16, 10, 10, 10, 10, 30])
    if report.ranking is not None:
        _sheet(wb, "Peringkat", ["Peringkat", "Instansi", "Indeks", "Instansi ini"],
               [[rank, name, value, "ya" if mine else ""] for rank, name, value, mine in report.ranking.rows],
               [10, 44, 10, 12])
    profile = [[GROUP_LABELS[p.group], t.title, r.label, r.count if r.count is not None else f"<{m}",
                share(r.share) if r.share is not None else "-"]
               for p in report.profiles for t in p.tables for r in t.rows]
    profile += [[GROUP_LABELS[p.group], HIDDEN, f"kurang dari {m} responden", "", ""]
                for p in report.profiles if p.suppressed]
    _sheet(wb, "Profil responden", ["Kelompok", "Pertanyaan", "Jawaban", "Jumlah", "Persentase"], profile,
           [24, 40, 44, 10, 12])
    _sheet(wb, "Unit terendah", ["Kelompok", "Unit", "Indeks", "Dimensi terlemah"],
           [[GROUP_LABELS[u.group], u.label, u.index, "; ".join(f"{d} ({v:.2f})" for d, v in u.weakest)]
            for u in report.lowest_units], [24, 36, 10, 70])
    _sheet(wb, "Peta risiko unit", ["Kelompok", "Unit", "Dimensi", "Item", "Analisis", "Persentase", "Tingkat"],
           [[GROUP_LABELS[u.group], u.label, report.dimension_labels.get(i.dimension, i.dimension), i.reference,
             i.kind, share(i.share) if i.share is not None else "-", i.level or "-"]
            for u in report.score.units for i in u.items], [20, 30, 28, 70, 12, 12, 18])


def write(report: Report, path_or_buffer: Any) -> None:
    s = report.score
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "Ringkasan"
    summary.append(["Instansi", report.institution])
    summary.append(["Survei", report.campaign])
    summary.append(["Indeks Integritas", _v(s.index)])
    summary.append(["Kategori", s.category or "-"])
    for g, res in s.groups.items():
        summary.append([f"Sub-indeks {GROUP_LABELS[g]}", _v(res.index), f"n={res.n}"])
    summary.append(["Faktor koreksi", s.correction])
    for name, pts in s.correction_parts.items():
        summary.append([f"  {name}", pts])
    for year, value in sorted(s.history.items()):
        summary.append([f"Indeks {year}", value])
    for note in report.notes:
        summary.append([note])
    summary.column_dimensions["A"].width = 42

    _correction_sheet(wb, report)
    _issue24_sheets(wb, report)
    _sheet(wb, "Responden", ["Kelompok", "Sampel", "Menjawab"],
           [[GROUP_LABELS[g], a, r] for g, (a, r) in report.respondents.items()], [32, 10, 10])
    part = _sheet(wb, "Partisipasi unit", ["Unit", "Internal menjawab", "Internal sampel", "Eksternal menjawab",
                                           "Eksternal sampel", "Eksper menjawab", "Eksper sampel", "Partisipasi",
                                           "Terendah"],
                  [[u.name, u.responded.get("internal", 0), u.assigned.get("internal", 0),
                    u.responded.get("external", 0), u.assigned.get("external", 0),
                    u.responded.get("expert", 0), u.assigned.get("expert", 0),
                    share(u.rate) if u.rate is not None else "-", "ya" if u.lowest else ""]
                   for u in report.participation],
                  [36, 10, 10, 10, 10, 10, 10, 12, 10])
    for row in part.iter_rows(min_row=2):
        if row[8].value == "ya":
            for cell in row:
                cell.fill = LOW_FILL
    _sheet(wb, "Indeks unit", ["Kelompok", "Unit", "Responden", "Indeks", "Kategori"],
           [[GROUP_LABELS[u.group], u.label, u.n, _v(u.index), u.category or "-"] for u in s.units],
           [28, 36, 10, 10, 12])
    _sheet(wb, "Jenis layanan", ["Jenis layanan", "Responden", "Indeks", "Kategori"],
           [[b.label, b.n, _v(b.index), b.category or "-"] for b in s.service_types], [36, 10, 10, 12])
    dims = [[GROUP_LABELS[g], report.dimension_labels.get(d, d), _v(v)]
            for g, res in s.groups.items() if g != "expert" for d, v in res.dimensions.items()]
    _sheet(wb, "Dimensi", ["Kelompok", "Dimensi", "Nilai"], dims, [28, 40, 10])
    expert_rows = []
    for v, val in s.groups["expert"].variables.items():
        expert_rows.append([report.variable_labels.get(("expert", v), v), _v(val),
                            *[_v(b.variables.get(v)) for b in s.expert_groups]])
    _sheet(wb, "Eksper", ["Variabel", "Semua eksper", *[f"{b.label} (n={b.n})" for b in s.expert_groups]],
           expert_rows, [60, 12, 20, 20])
    risk = [[GROUP_LABELS[g], report.dimension_labels.get(i.dimension, i.dimension), i.reference, i.kind,
             share(i.share) if i.share is not None else HIDDEN, i.level or HIDDEN]
            for g, res in s.groups.items() for i in res.items]
    _sheet(wb, "Peta risiko", ["Kelompok", "Dimensi", "Item", "Analisis", "Persentase", "Tingkat"], risk,
           [24, 30, 70, 12, 12, 18])
    e = s.experience
    exp_rows: list[list[Any]] = []
    if e is None or e.suppressed:
        exp_rows.append([HIDDEN, "", ""])
    else:
        exp_rows += [["Pernah dimintai uang/barang/fasilitas", "", share(e.asked_share)],
                     ["Pernah memberikan uang/barang/fasilitas", "", share(e.gave_share)]]
        for d in e.details:
            if d.suppressed:
                exp_rows.append([d.question, HIDDEN, ""])
            for answer, count in d.counts.items():
                exp_rows.append([d.question, answer, count])
    _sheet(wb, "Pengalaman eksternal", ["Pertanyaan", "Jawaban", "Nilai"], exp_rows, [60, 40, 12])
    plan = _sheet(wb, "Rencana aksi", ["Tingkat risiko", "Kelompok", "Dimensi", "Variabel", "Rincian tingkat",
                                       "Rekomendasi", "Aksi", "Area intervensi MCP", "Kriteria keberhasilan",
                                       "Ukuran keberhasilan", "Penanggung jawab", "Waktu"],
                  [[a.level, GROUP_LABELS[a.group], a.dimension, a.variable, a.levels, a.recommendation, "",
                    a.mcp_area, "", "", "", a.timing] for a in report.actions],
                  [16, 20, 28, 50, 30, 60, 30, 26, 24, 24, 20, 12])
    for row in plan.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    _percent_cells(wb)
    wb.save(path_or_buffer)
