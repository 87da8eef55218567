"""The report as one self-contained HTML page (inline CSS and SVG charts, no JavaScript)."""

from __future__ import annotations

from markupsafe import Markup, escape

from core.templating import render as render_template
from reports import GROUP_LABELS, Report, correction_view
from reports.correction import ENTERED_TITLE, MEASURED_TITLE
from responses import RENTAN, TERJAGA, WASPADA

CATEGORY_COLOURS = {RENTAN: "#b3261e", WASPADA: "#b26a00", TERJAGA: "#1b6e3a"}
LEVEL_COLOURS = {"Sangat Tinggi": "#8e0000", "Tinggi": "#c62828", "Sedang": "#b26a00", "Rendah": "#1b6e3a",
                 "Di bawah rata-rata": "#c62828", "Di atas rata-rata": "#1b6e3a"}


def _colour(value: float | None) -> str:
    if value is None:
        return "#9aa0a6"
    return CATEGORY_COLOURS[RENTAN if value < 73 else WASPADA if value < 78 else TERJAGA]


def bar_chart(rows: list[tuple[str, float | None]], title: str, width: int = 560) -> Markup:
    """Horizontal bars on 0..100 with the 73/78 category lines; None is drawn as 'disembunyikan'."""
    bar_h, gap, label_w = 18, 8, 200
    height = len(rows) * (bar_h + gap) + 30
    scale = (width - label_w - 50) / 100
    parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg" font-size="12" font-family="sans-serif">',
             f"<title>{escape(title)}</title>"]
    for mark in (73, 78):
        x = label_w + mark * scale
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#888" stroke-dasharray="3 3"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="#444">{mark}</text>')
    for n, (label, value) in enumerate(rows):
        y = n * (bar_h + gap)
        short = label if len(label) <= 32 else label[:30] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" fill="#222">{escape(short)}</text>')
        if value is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + 13}" fill="#555">disembunyikan</text>')
            continue
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(value, 0) * scale:.1f}" height="{bar_h}" '
                     f'fill="{_colour(value)}"/>'
                     f'<text x="{label_w + value * scale + 4:.1f}" y="{y + 13}" fill="#222">{value:.2f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped


def render(report: Report) -> str:
    s = report.score
    headline = [("Indeks Integritas", s.index)] + [(GROUP_LABELS[g], s.groups[g].index) for g in s.groups]
    history = (sorted({**report.score.history, report.year: s.index}.items()) if s.index is not None
               else sorted(s.history.items()))
    unit_rows = {(u.group, u.label): u for u in s.units}
    charts = {
        "headline": bar_chart(headline, "Indeks dan sub-indeks"),
        "history": (bar_chart([(str(y), v) for y, v in history], "Indeks dari tahun ke tahun")
                    if len(history) > 1 else None),
        "units_internal": bar_chart([(u.label, u.index) for (g, _), u in unit_rows.items() if g == "internal"],
                                    "Indeks internal per unit"),
        "units_external": bar_chart([(u.label, u.index) for (g, _), u in unit_rows.items() if g == "external"],
                                    "Indeks eksternal per unit"),
    }
    return render_template(
        "responses/report.html", r=report, s=s, charts=charts, group_labels=GROUP_LABELS,
        category_colours=CATEGORY_COLOURS, level_colours=LEVEL_COLOURS,
        cv=correction_view(report), cv_measured_title=MEASURED_TITLE, cv_entered_title=ENTERED_TITLE,
    )
