"""The report as one self-contained HTML page (inline CSS and SVG charts from reports.charts, no JavaScript)."""

from __future__ import annotations

from collections import defaultdict

from markupsafe import Markup

from core.templating import render as render_template
from reports import GROUP_LABELS, Report, correction_view
from reports.charts import report_charts
from reports.correction import ENTERED_TITLE, MEASURED_TITLE, SOURCE_LABELS
from responses import RENTAN, TERJAGA, WASPADA

CATEGORY_COLOURS = {RENTAN: "#b3261e", WASPADA: "#b26a00", TERJAGA: "#1b6e3a"}
LEVEL_COLOURS = {"Sangat Tinggi": "#8e0000", "Tinggi": "#c62828", "Sedang": "#b26a00", "Rendah": "#1b6e3a",
                 "Di bawah rata-rata": "#c62828", "Di atas rata-rata": "#1b6e3a"}


def render(report: Report) -> str:
    s = report.score
    # a chart the report does not have (no units, no ranking) renders as nothing
    charts: defaultdict[str, Markup] = defaultdict(Markup, {k: c.svg() for k, c in report_charts(report).items()})
    return render_template(
        "responses/report.html", r=report, s=s, charts=charts, group_labels=GROUP_LABELS,
        category_colours=CATEGORY_COLOURS, level_colours=LEVEL_COLOURS,
        cv=correction_view(report), cv_measured_title=MEASURED_TITLE, cv_entered_title=ENTERED_TITLE,
        source_labels=SOURCE_LABELS,
    )
