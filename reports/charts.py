"""The report's charts, drawn once with matplotlib (Agg) and written as vector graphics twice:
SVG inlined in the HTML page, PDF embedded in the reportlab PDF (`reports.pdf`).

Why this path: matplotlib is a dependency already (pyproject) and writes both formats from one
figure; svglib is not installed, so the PDF side embeds matplotlib's own one-page PDF into the
reportlab document as a form XObject with pypdfium2 (also a dependency already), which keeps the
chart vector (text stays text) without a second drawing code.

Readable in black and white: risk categories are told apart by hatch patterns and a legend, not
by colour alone; lines carry distinct markers and dash styles; values are printed on the bars;
reference lines (73, 78, the Bappenas target) are labelled in text.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib
from markupsafe import Markup, escape
from matplotlib.figure import Figure  # Figure, never pyplot: no global figure state
from matplotlib.patches import Patch

from responses import RENTAN, TERJAGA, WASPADA

if TYPE_CHECKING:
    from reports import Report

matplotlib.use("Agg")  # no display, no GUI toolkit

HIDDEN = "disembunyikan"
# Light fills (print as light greys) with a distinct hatch each: category readable in B/W.
CATEGORY_STYLE = {RENTAN: ("#f2b8b3", "xxx"), WASPADA: ("#fbe3a6", "///"), TERJAGA: ("#bfe3c9", "")}
NEUTRAL = ("#d5d9de", "")  # counts: one series, nothing to tell apart
LINE_STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"))
RC: dict[Any, Any] = {"font.family": "DejaVu Sans", "font.size": 8, "svg.fonttype": "none", "svg.hashsalt": "spibot",
      "pdf.fonttype": 3, "hatch.linewidth": 0.6}  # Type 3: vector glyphs, text extractable, no slow TTF subsetting
_FORBIDDEN_TAGS = {"script", "foreignObject", "iframe", "object", "embed"}


@dataclass
class Chart:
    """One figure and where it belongs; `key` is unique within a report."""

    key: str
    title: str
    figure: Figure

    def svg(self) -> Markup:
        return to_svg(self.figure, self.key, self.title)

    def pdf(self) -> bytes:
        return to_pdf(self.figure)

    @property
    def size_pt(self) -> tuple[float, float]:
        w, h = self.figure.get_size_inches()
        return float(w) * 72, float(h) * 72


def _text(label: str, width: int = 38) -> str:
    """Plain text for matplotlib: `$` would start mathtext; long labels are shortened."""
    short = label if len(label) <= width else label[: width - 1] + "…"
    return short.replace("$", r"\$")


def category_of(value: float) -> str:
    return RENTAN if value < 73 else WASPADA if value < 78 else TERJAGA


def _figure(rows: int, width: float = 6.4) -> Figure:
    with matplotlib.rc_context(RC):
        return Figure(figsize=(width, max(1.4, 0.32 * rows + 0.9)), layout="constrained")


def score_bars(key: str, title: str, rows: Sequence[tuple[str, float | None]],
               marks: Sequence[float] = (73, 78)) -> Chart:
    """Horizontal bars on 0..100, hatched by category, the category limits as labelled lines;
    a suppressed value (None) gets no bar and the word 'disembunyikan'."""
    with matplotlib.rc_context(RC):
        fig = _figure(len(rows))
        ax = fig.add_subplot()
        labels = [_text(label) for label, _ in rows][::-1]
        values = [value for _, value in rows][::-1]
        for y, value in enumerate(values):
            if value is None:
                ax.text(1, y, HIDDEN, va="center", fontsize=7, style="italic")
                continue
            fill, hatch = CATEGORY_STYLE[category_of(value)]
            ax.barh(y, value, color=fill, hatch=hatch, edgecolor="black", linewidth=0.6, height=0.7)
            ax.text(min(value, 100) + 1, y, f"{value:.2f}".replace(".", ","), va="center", fontsize=7)
        for mark in marks:
            ax.axvline(mark, color="black", linestyle=(0, (3, 3)), linewidth=0.7)
            ax.text(mark, len(rows) - 0.4, f"{mark:g}", ha="center", va="bottom", fontsize=7)
        ax.set_yticks(range(len(rows)), labels)
        ax.set_xlim(0, 110)
        ax.set_ylim(-0.6, len(rows) - 0.1)
        ax.set_title(_text(title, 80), fontsize=9, loc="left")
        ax.legend(handles=[Patch(facecolor=f, hatch=h, edgecolor="black", label=c)
                           for c, (f, h) in CATEGORY_STYLE.items()],
                  loc="lower right", fontsize=6, frameon=True, ncols=3)
        ax.spines[["top", "right"]].set_visible(False)
    return Chart(key, title, fig)


def count_bars(key: str, title: str, rows: Sequence[tuple[str, int | None]], min_cell: int) -> Chart:
    """Respondent counts per answer; a suppressed cell (None) is written '<min_cell', no bar."""
    with matplotlib.rc_context(RC):
        fig = _figure(len(rows), width=5.2)
        ax = fig.add_subplot()
        top = max([c for _, c in rows if c is not None] + [min_cell])
        labels = [_text(label) for label, _ in rows][::-1]
        for y, (_, count) in enumerate(rows[::-1]):
            if count is None:
                ax.text(0, y, f" <{min_cell}", va="center", fontsize=7, style="italic")
                continue
            fill, hatch = NEUTRAL
            ax.barh(y, count, color=fill, hatch=hatch, edgecolor="black", linewidth=0.6, height=0.7)
            ax.text(count + top * 0.01, y, f" {count}", va="center", fontsize=7)
        ax.set_yticks(range(len(rows)), labels)
        ax.set_xlim(0, top * 1.15)
        ax.set_title(_text(title, 80), fontsize=9, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    return Chart(key, title, fig)


def history_lines(key: str, title: str, years: Sequence[int], series: Mapping[str, Sequence[float | None]],
                  target: float | None) -> Chart:
    """Index and sub-indices over the years: one marker and dash style per series, the target as a
    labelled horizontal line; a missing year leaves a gap."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.4, 2.8), layout="constrained")
        ax = fig.add_subplot()
        for n, (name, values) in enumerate(series.items()):
            marker, style = LINE_STYLES[n % len(LINE_STYLES)]
            ys = [float("nan") if v is None else v for v in values]
            ax.plot(list(years), ys, marker=marker, linestyle=style, color="black", linewidth=1,
                    markersize=4, markerfacecolor="white" if n % 2 else "black", label=_text(name))
        if target is not None:
            ax.axhline(target, color="black", linewidth=1.4, linestyle=(0, (6, 2)))
            ax.text(years[0] if years else 0, target + 0.4, f"Target Bappenas {target:g}".replace(".", ","),
                    fontsize=7, va="bottom")
        ax.set_xticks(list(years), [str(y) for y in years])
        values = [v for vs in series.values() for v in vs if v is not None] + ([target] if target else [])
        low = min(values, default=50.0)
        ax.set_ylim(max(0.0, low - 8), 100)
        ax.set_title(_text(title, 80), fontsize=9, loc="left")
        ax.legend(fontsize=6, loc="lower right", ncols=2)
        ax.spines[["top", "right"]].set_visible(False)
    return Chart(key, title, fig)


def to_pdf(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})
    return buf.getvalue()


def to_svg(fig: Figure, key: str, title: str) -> Markup:
    """The figure as an inline <svg>: no XML prolog or metadata, ids prefixed with the chart key
    (several charts share one page), an accessible title; refused if it ever carried active content."""
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", key) + "-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', text)
    text = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                  lambda m: f'<svg {m.group(1)}role="img" aria-label="{escape(title)}" '
                            f'style="width:100%;max-width:{fig.get_size_inches()[0] * 96:.0f}px;height:auto"',
                  text, count=1)
    _check_svg(text)
    return Markup(text)  # noqa: S704 - matplotlib escapes every text; _check_svg refuses active content


def _check_svg(text: str) -> None:
    root = ET.fromstring(text)  # noqa: S314 - matplotlib's own output, no DTD or entities
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in _FORBIDDEN_TAGS or any(a.lower().startswith("on") for a in el.attrib):
            raise ValueError(f"chart SVG carries active content: <{tag}>")
        for name, value in el.attrib.items():
            if name.endswith("href") and not value.startswith("#"):
                raise ValueError("chart SVG links outside itself")


def report_charts(report: Report) -> dict[str, Chart]:
    """Every chart of one report, by key, in reading order: HTML and PDF draw the same ones."""
    from reports import GROUP_LABELS  # the package face; reports/__init__ imports no chart code

    s = report.score
    charts: dict[str, Chart] = {}
    charts["headline"] = score_bars("headline", "Indeks dan sub-indeks", [("Indeks Integritas", s.index)] + [
        (GROUP_LABELS[g], r.index) for g, r in s.groups.items()])
    if report.history:
        years = [p.year for p in report.history]
        series: dict[str, list[float | None]] = {"Indeks Integritas": [p.index for p in report.history]}
        for g in ("internal", "external", "expert"):
            values = [getattr(p, g) for p in report.history]
            if any(v is not None for v in values):
                series[GROUP_LABELS[g]] = values
        charts["history"] = history_lines("history", "Indeks dan sub-indeks dari tahun ke tahun", years, series,
                                          report.target)
    if report.ranking is not None:
        charts["ranking"] = score_bars("ranking", f"Peringkat: {report.ranking.peer_class}",
                                       [(f"{rank}. {name}", value) for rank, name, value, _ in report.ranking.rows])
    for g in ("internal", "external"):
        rows = [(u.label, u.index) for u in s.units if u.group == g]
        if rows:
            charts[f"units_{g}"] = score_bars(f"units_{g}", f"Indeks {GROUP_LABELS[g].lower()} per unit", rows)
    for p in report.profiles:
        for t in p.tables:
            key = f"profile_{p.group}_{t.question}"
            charts[key] = count_bars(key, f"{GROUP_LABELS[p.group]}: {t.title}",
                                     [(r.label, r.count) for r in t.rows], s.min_cell)
    return charts
