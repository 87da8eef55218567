"""Bare QR codes and the poster layouts decode, with zbar, to exactly the URL intended."""

from __future__ import annotations

import pytest

from qr import codes
from qr.layout import FORMATS, PosterSpec, page_for
from qr.render import pdf_bytes, png_pages, svg_text
from tests.qr.helpers import decode_pdf, decode_png, decode_svg, pdf_text

URL = "https://spi.test.example/daftar/KAB-KTG/DUKCAPIL?loket=L1"


def spec(**kw: object) -> PosterSpec:
    base: dict[str, object] = dict(
        kind="registration", year=2026, institution_name="Pemerintah Kabupaten Katingan",
        unit_name="Dinas Kependudukan dan Pencatatan Sipil", counter="L1", url=URL,
        short_url="https://spi.test.example/p/abcdefgh", closes_on="31 Oktober 2026",
        call_centre="Call center SPI 198 (setiap hari 08.30-22.00 WIB)",
    )
    base.update(kw)
    return PosterSpec(**base)  # type: ignore[arg-type]


def test_bare_png_and_svg_decode() -> None:
    assert decode_png(codes.qr_png(URL)) == [URL]
    assert decode_svg(codes.qr_svg(URL)) == [URL]


def test_matrix_uses_high_error_correction() -> None:
    # H keeps ~30% redundancy: the same URL needs a larger symbol than at level L.
    import qrcode
    from qrcode.constants import ERROR_CORRECT_L

    low = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=0)
    low.add_data(URL)
    low.make(fit=True)
    assert len(codes.matrix(URL)) > len(low.get_matrix())


def test_runs_cover_exactly_the_dark_modules() -> None:
    m = codes.matrix(URL)
    painted = {(r, c + i) for r, c, n in codes.runs(m) for i in range(n)}
    assert painted == {(r, c) for r, row in enumerate(m) for c, v in enumerate(row) if v}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_in_pdf_png_and_svg(fmt: str) -> None:
    page = page_for(spec(), fmt)
    pdf = pdf_bytes([page])
    expected = 2 if fmt == "tent" else 1  # the tent shows the code on both sides
    assert decode_pdf(pdf) == [[URL] * expected]
    assert decode_png(png_pages(pdf, 150)[0]) == [URL] * expected
    if fmt != "tent":
        assert decode_svg(svg_text(page)) == [URL]


def test_poster_text_is_text_with_the_required_content() -> None:
    text = pdf_text(pdf_bytes([page_for(spec(), "a4")]))[0]
    for needed in ["Survei Penilaian Integritas 2026", "Pemerintah Kabupaten Katingan",
                   "Dinas Kependudukan dan Pencatatan Sipil", "Loket L1",
                   "https://spi.test.example/p/abcdefgh", "Survei ditutup 31 Oktober 2026",
                   "Rahasia dan sukarela", "08.30-22.00", "1. Pindai", "3. Jawab"]:
        assert needed in text, needed


def test_guestbook_poster_and_long_names_stay_on_the_page() -> None:
    long_name = "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu " * 3
    page = page_for(spec(kind="guestbook", counter=None, unit_name=long_name.strip(),
                         url="https://spi.test.example/bukutamu/KAB-KTG/DPMPTSP"), "a4")
    from qr.layout import Text

    texts = [op for op in page.ops if isinstance(op, Text)]
    assert all(0 <= op.x <= page.width and 0 < op.y < page.height for op in texts)
    pdf = pdf_bytes([page])
    assert "Buku Tamu Pengguna Layanan" in pdf_text(pdf)[0]
    assert decode_pdf(pdf) == [["https://spi.test.example/bukutamu/KAB-KTG/DPMPTSP"]]


def test_svg_escapes_text() -> None:
    svg = svg_text(page_for(spec(unit_name="Dinas <Uji> & Co"), "a4"))
    assert "Dinas &lt;Uji&gt; &amp; Co" in svg and "<Uji>" not in svg


def test_fast_mask_choice_is_the_one_qrcode_makes() -> None:
    import numpy as np
    import qrcode
    from qrcode import util
    from qrcode.constants import ERROR_CORRECT_H

    urls = [f"https://spi.test.example/daftar/KAB-{i:03d}/UNIT-{i * 7 % 97}?loket=L{i % 13}"
            for i in range(12)] + ["x", "https://a.example/" + "é" * 60, "9" * 400]
    for url in urls:
        reference = qrcode.QRCode(error_correction=ERROR_CORRECT_H, border=0)
        reference.add_data(url)
        reference.make(fit=True)
        assert codes.matrix(url) == tuple(tuple(bool(v) for v in row)
                                          for row in reference.get_matrix()), url
        for mask in range(8):
            reference.makeImpl(True, mask)
            assert codes.penalty(np.array(reference.modules, dtype=bool)) == util.lost_point(
                reference.modules)
