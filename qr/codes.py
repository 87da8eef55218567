"""QR codes: the module matrix (error correction H: survives ~30% damage, e.g. a scratched
laminate), drawn as vector runs for PDF/SVG or as a PNG of the bare code."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import qrcode
from numpy.lib.stride_tricks import sliding_window_view
from qrcode.constants import ERROR_CORRECT_H

QUIET_ZONE = 4  # modules of white border the QR standard asks for

Matrix = tuple[tuple[bool, ...], ...]


# The finder-like 1:1:3:1:1 patterns with 4 light modules that the mask penalty counts.
_FINDER_LIKE = (np.array([1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0], dtype=bool),
                np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1], dtype=bool))


def _masks(n: int) -> list[np.ndarray]:
    """The eight QR mask patterns (ISO/IEC 18004), True where a data module is inverted."""
    i, j = np.indices((n, n))
    return [
        (i + j) % 2 == 0, i % 2 == 0, j % 3 == 0, (i + j) % 3 == 0,
        (i // 2 + j // 3) % 2 == 0, (i * j) % 2 + (i * j) % 3 == 0,
        ((i * j) % 2 + (i * j) % 3) % 2 == 0, ((i * j) % 3 + (i + j) % 2) % 2 == 0,
    ]


def penalty(m: np.ndarray) -> int:
    """qrcode.util.lost_point, vectorised: the same score, ~2x faster."""
    n = m.shape[0]
    score = 0
    for lines in (m, m.T):
        starts = np.ones(lines.shape, dtype=bool)
        starts[:, 1:] = lines[:, 1:] != lines[:, :-1]
        lengths = np.diff(np.append(np.flatnonzero(starts.ravel()), lines.size))
        score += int((lengths[lengths >= 5] - 2).sum())  # runs of 5+ same-colour modules
        windows = sliding_window_view(lines, 11, axis=1)
        hits = (windows == _FINDER_LIKE[0]).all(-1) | (windows == _FINDER_LIKE[1]).all(-1)
        score += 40 * int(hits.sum())
    a, b, c, d = m[:-1, :-1], m[1:, :-1], m[:-1, 1:], m[1:, 1:]
    score += 3 * int(((a == b) & (a == c) & (a == d)).sum())  # 2x2 blocks of one colour
    dark = float(int(m.sum())) / (n**2)
    return score + int(abs(dark * 100 - 50) / 5) * 10


class _QRCode(qrcode.QRCode):  # type: ignore[misc]  # qrcode ships no type hints
    """qrcode's encoder with a faster choice of mask (the same choice, see tests).

    qrcode lays out the symbol 8 times and scores each in pure Python (~25 ms). Data placement
    does not depend on the mask, so lay it out once and score the 8 masks with numpy."""

    def best_mask_pattern(self) -> int:
        self.makeImpl(True, 0)
        modules: list[list[bool | None]] = self.modules  # type: ignore[has-type]
        base = np.array(modules, dtype=np.bool_)
        blank = [row[:] for row in qrcode.main.precomputed_qr_blanks[self.version]]
        self.modules = blank
        self.setup_type_info(True, 0)
        if self.version >= 7:
            self.setup_type_number(True)
        is_data = np.array([[v is None for v in row] for row in blank], dtype=np.bool_)
        self.modules = modules
        masks = _masks(self.modules_count)
        unmasked = base ^ (masks[0] & is_data)
        scores = [penalty(unmasked ^ (mask & is_data)) for mask in masks]
        return int(np.argmin(scores))  # the first best, as qrcode does


@lru_cache(maxsize=4096)
def matrix(data: str) -> Matrix:
    """The dark/light modules of `data`, without quiet zone."""
    code = _QRCode(error_correction=ERROR_CORRECT_H, border=0)
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
