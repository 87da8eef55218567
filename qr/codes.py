"""QR codes: the module matrix (error correction H: survives ~30% damage, e.g. a scratched
laminate), drawn as vector runs for PDF/SVG or as a PNG of the bare code."""

from __future__ import annotations

import io
from functools import lru_cache

import qrcode
from qrcode.constants import ERROR_CORRECT_H

QUIET_ZONE = 4  # modules of white border the QR standard asks for

Matrix = tuple[tuple[bool, ...], ...]


@lru_cache(maxsize=4096)
def matrix(data: str) -> Matrix:
    """The dark/light modules of `data`, without quiet zone."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_H, border=0)
    code.add_data(data)
    code.make(fit=True)
    return tuple(tuple(bool(v) for v in row) for row in code.get_matrix())


def runs(m: Matrix) -> list[tuple[int, int, int]]:
    """Horizontal runs of dark modules as (row, first column, length): ~3x fewer shapes than
    one square per module, which keeps vector posters small and fast to draw."""
    out: list[tuple[int, int, int]] = []
    for r, row in enumerate(m):
        c, n = 0, len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                out.append((r, start, c - start))
            else:
                c += 1
    return out


def svg_path(m: Matrix, x: float, y: float, module: float) -> str:
    """An SVG path `d` drawing the dark modules with the top-left corner at (x, y)."""
    parts = [f"M{x + c * module:.2f} {y + r * module:.2f}h{n * module:.2f}v{module:.2f}"
             f"h{-n * module:.2f}z" for r, c, n in runs(m)]
    return "".join(parts)


def qr_svg(data: str, module: float = 10.0) -> str:
    """A standalone SVG of the bare QR code (with quiet zone)."""
    m = matrix(data)
    size = (len(m) + 2 * QUIET_ZONE) * module
    d = svg_path(m, QUIET_ZONE * module, QUIET_ZONE * module, module)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size:.0f}" height="{size:.0f}" '
            f'viewBox="0 0 {size:.0f} {size:.0f}" shape-rendering="crispEdges">'
            f'<rect width="100%" height="100%" fill="#fff"/><path fill="#000" d="{d}"/></svg>')


def qr_png(data: str, box_size: int = 10) -> bytes:
    """A PNG of the bare QR code (with quiet zone)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_H, border=QUIET_ZONE, box_size=box_size)
    code.add_data(data)
    code.make(fit=True)
    buf = io.BytesIO()
    code.make_image().save(buf)
    return buf.getvalue()
