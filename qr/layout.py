"""Poster layout as a list of vector drawing operations, independent of the output format.

Coordinates are PDF points with the origin at the bottom-left. `qr.render` turns a `Page` into
PDF (reportlab), SVG or PNG. Text stays text; the QR code is drawn as vector runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from core.datafiles import read_yaml
from qr.codes import QUIET_ZONE, Matrix, matrix

FORMATS = ("a4", "tent", "sticker")
STICKER = (90 * mm, 130 * mm)
RED = "#a3141b"  # white on this red: contrast 7.6:1
INK = "#1a1a1a"
GREY = "#444444"
FONT, BOLD = "Helvetica", "Helvetica-Bold"


@dataclass(frozen=True)
class PosterSpec:
    """Everything printed on one poster."""

    kind: str  # registration | guestbook
    year: int
    institution_name: str
    unit_name: str
    counter: str | None
    url: str  # what the QR code encodes
    short_url: str  # printed under the code
    closes_on: str  # "31 Oktober 2026"
    call_centre: str


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float
    bold: bool = False
    fill: str = INK
    anchor: str = "start"  # start | middle


@dataclass(frozen=True)
class QR:
    x: float  # bottom-left of the code itself (quiet zone lies outside)
    y: float
    size: float
    matrix: Matrix


@dataclass(frozen=True)
class Group:
    """Operations drawn rotated by 180° about the centre of the box (x, y, w, h): the upper
    half of a folded table tent reads right way up from the other side of the table."""

    x: float
    y: float
    w: float
    h: float
    ops: tuple[Any, ...]
    rotate180: bool = False


@dataclass
class Page:
    width: float
    height: float
    ops: list[Any] = field(default_factory=list)


@lru_cache
def texts() -> dict[str, Any]:
    path = Path(__file__).parent / "data" / "poster.yaml"
    data: dict[str, Any] = read_yaml(path)
    return data


def wrap(text: str, size: float, width: float, bold: bool = False) -> list[str]:
    """Greedy word wrap with the real font metrics."""
    font = BOLD if bold else FONT
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}" if line else word
        if line and stringWidth(trial, font, size) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    if line:
        lines.append(line)
    return lines or [""]


class _Column:
    """A top-down cursor that lays out centred or left-aligned text blocks."""

    def __init__(self, ops: list[Any], x: float, width: float, top: float) -> None:
        self.ops, self.x, self.width, self.y = ops, x, width, top

    def text(self, text: str, size: float, *, bold: bool = False, fill: str = INK,
             centre: bool = True, gap: float = 0.3, indent: float = 0.0) -> None:
        for line in wrap(text, size, self.width - indent, bold):
            self.y -= size * 1.2
            x = self.x + self.width / 2 if centre else self.x + indent
            self.ops.append(Text(x, self.y, line, size, bold, fill, "middle" if centre else "start"))
        self.y -= size * gap

    def space(self, points: float) -> None:
        self.y -= points

    def qr(self, data: str, size: float) -> None:
        m = matrix(data)
        module = size / (len(m) + 2 * QUIET_ZONE)
        inner = module * len(m)
        self.y -= size
        self.ops.append(Rect(self.x + (self.width - size) / 2, self.y, size, size, "#ffffff"))
        self.ops.append(QR(self.x + (self.width - inner) / 2, self.y + module * QUIET_ZONE, inner, m))


def _fmt(template: str, spec: PosterSpec) -> str:
    return template.format(year=spec.year, counter=spec.counter or "", closes_on=spec.closes_on,
                           call_centre=spec.call_centre)


def _header(ops: list[Any], spec: PosterSpec, x: float, top: float, width: float,
            height: float, title: float, subtitle: float) -> None:
    t = texts()[spec.kind]
    ops.append(Rect(x, top - height, width, height, RED))
    col = _Column(ops, x + 12, width - 24, top - (height - title * 1.2 - subtitle * 1.5) / 2 + 2)
    col.text(_fmt(t["title"], spec), title, bold=True, fill="#ffffff", gap=0.1)
    col.text(_fmt(t["subtitle"], spec), subtitle, fill="#ffffff", gap=0)


def _who(col: _Column, spec: PosterSpec, scale: float, centre: bool = True) -> None:
    col.text(spec.institution_name, 18 * scale, bold=True, gap=0.15, centre=centre)
    col.text(spec.unit_name, 15 * scale, gap=0.15, centre=centre)
    if spec.counter:
        col.text(_fmt(texts()["common"]["counter"], spec), 15 * scale, bold=True, fill=RED,
                 gap=0.15, centre=centre)


def _steps(col: _Column, spec: PosterSpec, size: float) -> None:
    common, t = texts()["common"], texts()[spec.kind]
    col.text(common["steps_heading"], size, bold=True, centre=False, gap=0.2)
    for i, step in enumerate(t["steps"], 1):
        col.text(f"{i}. {step}", size, centre=False, gap=0.25, indent=0)


def a4_page(spec: PosterSpec) -> Page:
    width, height = A4
    page = Page(width, height)
    ops, common = page.ops, texts()["common"]
    _header(ops, spec, 0, height, width, 96, 26, 15)
    col = _Column(ops, 48, width - 96, height - 108)
    _who(col, spec, 1.0)
    col.text(_fmt(texts()[spec.kind]["cta"], spec), 14, gap=0.2)
    col.qr(spec.url, 300)
    col.text(common["no_scan"], 11, fill=GREY, gap=0.1)
    col.text(spec.short_url, 17, bold=True, gap=0.6)
    _steps(col, spec, 14)
    col.space(6)
    col.text(common["confidential_heading"], 12, bold=True, centre=False, gap=0.1)
    col.text(common["confidential"], 11, centre=False, gap=0.5)
    col.text(_fmt(common["closes"], spec), 13, bold=True, centre=False, gap=0.1)
    col.text(_fmt(common["call_centre"], spec), 11, centre=False, fill=GREY)
    return page


def _tent_panel(spec: PosterSpec, width: float, height: float) -> list[Any]:
    """One half of the table tent: the QR on the left, the text on the right."""
    ops: list[Any] = []
    common = texts()["common"]
    _header(ops, spec, 0, height, width, 56, 20, 12)
    qr_size = height - 56 - 30
    left = _Column(ops, 20, qr_size, height - 62)
    left.qr(spec.url, qr_size - 10)
    right = _Column(ops, 30 + qr_size, width - qr_size - 50, height - 62)
    _who(right, spec, 0.8, centre=False)
    right.text(common["no_scan"], 9, fill=GREY, centre=False, gap=0.05)
    right.text(spec.short_url, 13, bold=True, centre=False, gap=0.4)
    _steps(right, spec, 10)
    right.text(_fmt(common["closes"], spec) + " " + common["confidential_heading"] + ".", 10,
               bold=True, centre=False, gap=0.1)
    right.text(_fmt(common["call_centre"], spec), 9, centre=False, fill=GREY)
    return ops


def tent_page(spec: PosterSpec) -> Page:
    width, height = landscape(A4)
    half = height / 2
    page = Page(width, height)
    panel = tuple(_tent_panel(spec, width, half))
    page.ops.append(Group(0, 0, width, half, panel))
    page.ops.append(Group(0, half, width, half, panel, rotate180=True))
    page.ops.append(Rect(0, half - 0.25, width, 0.5, "#bbbbbb"))  # fold line
    return page


def sticker_page(spec: PosterSpec) -> Page:
    width, height = STICKER
    page = Page(width, height)
    ops = page.ops
    _header(ops, spec, 0, height, width, 44, 11, 8)
    col = _Column(ops, 8, width - 16, height - 46)
    col.text(spec.unit_name + (f" · Loket {spec.counter}" if spec.counter else ""), 8, bold=True)
    col.text(texts()[spec.kind]["sticker_cta"], 8, gap=0.1)
    col.qr(spec.url, width - 40)
    col.text(spec.short_url, 8.5, bold=True, gap=0.1)
    col.text(_fmt(texts()["common"]["closes"], spec), 7, fill=GREY)
    return page


def page_for(spec: PosterSpec, fmt: str = "a4") -> Page:
    if fmt == "tent":
        return tent_page(spec)
    if fmt == "sticker":
        return sticker_page(spec)
    return a4_page(spec)
