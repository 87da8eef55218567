"""Turn laid-out pages into PDF (vector: reportlab), SVG (vector) or PNG (PDF rasterised by
PDFium)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pypdfium2 as pdfium
from reportlab.lib.colors import HexColor
from reportlab.pdfgen.canvas import Canvas

from qr.codes import Matrix, runs, svg_path
from qr.layout import BOLD, FONT, QR, Group, Page, Rect, Text

_COLOURS: dict[str, Any] = {}


def _colour(hexcode: str) -> Any:
    if hexcode not in _COLOURS:
        _COLOURS[hexcode] = HexColor(hexcode)
    return _COLOURS[hexcode]


@lru_cache(maxsize=256)
def _qr_ops(m: Matrix) -> str:
    """PDF path operators filling the dark runs of `m`, in module units, top row first."""
    return "\n".join(f"{col} {r} {n} 1 re" for r, col, n in runs(m)) + "\nf"


def _draw(c: Canvas, ops: Iterable[Any]) -> None:
    for op in ops:
        if isinstance(op, Rect):
            c.setFillColor(_colour(op.fill))
            c.rect(op.x, op.y, op.w, op.h, stroke=0, fill=1)
        elif isinstance(op, Text):
            c.setFillColor(_colour(op.fill))
            c.setFont(BOLD if op.bold else FONT, op.size)
            if op.anchor == "middle":
                c.drawCentredString(op.x, op.y, op.text)
            else:
                c.drawString(op.x, op.y, op.text)
        elif isinstance(op, QR):
            # Drawn in module units (integers) under one scaling matrix: the same vector shapes
            # as one `re` per run in points, at a fraction of the formatting cost.
            module = op.size / len(op.matrix)
            c.saveState()
            c.setFillColor(_colour("#000000"))
            c.transform(module, 0, 0, -module, op.x, op.y + op.size)
            c.addLiteral(_qr_ops(op.matrix))
            c.restoreState()
        elif isinstance(op, Group):
            c.saveState()
            c.translate(op.x, op.y)
            if op.rotate180:
                c.translate(op.w, op.h)
                c.rotate(180)
            _draw(c, op.ops)
            c.restoreState()


def pdf_bytes(pages: Iterable[Page], title: str = "Poster SPI") -> bytes:
    """One PDF with one page per poster (each page keeps its own size)."""
    buf = io.BytesIO()
    c = Canvas(buf, pageCompression=1)
    c.setTitle(title)
    c.setAuthor("spibot")
    empty = True
    for page in pages:
        c.setPageSize((page.width, page.height))
        _draw(c, page.ops)
        c.showPage()
        empty = False
    if empty:
        c.showPage()
    c.save()
    return buf.getvalue()


def _svg_ops(ops: Iterable[Any], height: float, out: list[str]) -> None:
    for op in ops:
        if isinstance(op, Rect):
            out.append(f'<rect x="{op.x:.2f}" y="{height - op.y - op.h:.2f}" width="{op.w:.2f}" '
                       f'height="{op.h:.2f}" fill="{op.fill}"/>')
        elif isinstance(op, Text):
            weight = ' font-weight="bold"' if op.bold else ""
            out.append(f'<text x="{op.x:.2f}" y="{height - op.y:.2f}" font-size="{op.size:.1f}"'
                       f'{weight} fill="{op.fill}" text-anchor="{op.anchor}">'
                       f"{escape(op.text)}</text>")
        elif isinstance(op, QR):
            module = op.size / len(op.matrix)
            d = svg_path(op.matrix, op.x, height - op.y - op.size, module)
            out.append(f'<path fill="#000" shape-rendering="crispEdges" d="{d}"/>')
        elif isinstance(op, Group):
            top = height - op.y - op.h  # the group's box in SVG coordinates
            transform = f"translate({op.x:.2f} {top:.2f})"
            if op.rotate180:
                transform += f" rotate(180 {op.w / 2:.2f} {op.h / 2:.2f})"
            out.append(f'<g transform="{transform}">')
            _svg_ops(op.ops, op.h, out)
            out.append("</g>")


def svg_text(page: Page, title: str = "Poster SPI") -> str:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{page.width:.2f}pt" '
           f'height="{page.height:.2f}pt" viewBox="0 0 {page.width:.2f} {page.height:.2f}" '
           f'font-family="Helvetica, Arial, sans-serif" role="img" aria-label={quoteattr(title)}>',
           f"<title>{escape(title)}</title>",
           f'<rect width="{page.width:.2f}" height="{page.height:.2f}" fill="#fff"/>']
    _svg_ops(page.ops, page.height, out)
    out.append("</svg>")
    return "\n".join(out)


def iter_png_pages(pdf: bytes, dpi: int = 150) -> Iterator[bytes]:
    """Rasterise the pages of a PDF to PNG bytes, one at a time."""
    doc = pdfium.PdfDocument(pdf)
    try:
        for index in range(len(doc)):
            page = doc[index]
            bitmap = page.render(scale=dpi / 72)
            buf = io.BytesIO()
            bitmap.to_pil().save(buf, format="PNG")
            bitmap.close()
            page.close()
            yield buf.getvalue()
    finally:
        doc.close()


def png_pages(pdf: bytes, dpi: int = 150) -> list[bytes]:
    return list(iter_png_pages(pdf, dpi))
