"""Decoding what the qr package produces with a real QR decoder (zbar)."""

from __future__ import annotations

import io
import re

import pypdfium2 as pdfium
from PIL import Image, ImageDraw
from pyzbar.pyzbar import ZBarSymbol, decode


def decode_image(image: Image.Image) -> list[str]:
    return [r.data.decode() for r in decode(image.convert("L"), symbols=[ZBarSymbol.QRCODE])]


def decode_png(data: bytes) -> list[str]:
    return decode_image(Image.open(io.BytesIO(data)))


def decode_pdf(data: bytes, dpi: int = 110) -> list[list[str]]:
    """The QR contents found on each page of a PDF, rendered by PDFium."""
    doc = pdfium.PdfDocument(data)
    try:
        return [decode_image(doc[i].render(scale=dpi / 72).to_pil()) for i in range(len(doc))]
    finally:
        doc.close()


def pdf_text(data: bytes) -> list[str]:
    doc = pdfium.PdfDocument(data)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


_RUN = re.compile(r"M([\d.]+) ([\d.]+)h([\d.]+)v([\d.]+)h-[\d.]+z")


def decode_svg(svg: str, scale: float = 2.0) -> list[str]:
    """Rasterise the QR paths of an SVG poster (the runs qr.codes.svg_path writes) and decode.

    Posters with a rotated half (table tent) are checked through the PDF instead."""
    width, height = (float(v) for v in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups())
    image = Image.new("L", (int(width * scale), int(height * scale)), 255)
    draw = ImageDraw.Draw(image)
    for path in re.findall(r'<path fill="#000"[^>]* d="([^"]+)"', svg):
        for x, y, w, h in _RUN.findall(path):
            x0, y0 = float(x) * scale, float(y) * scale
            draw.rectangle([x0, y0, x0 + float(w) * scale - 1, y0 + float(h) * scale - 1], fill=0)
    return decode_image(image)
