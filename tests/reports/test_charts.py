"""reports.charts: vector charts that survive black-and-white printing and inline safely."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pypdfium2 as pdfium

from reports.charts import count_bars, history_lines, score_bars

NS = "{http://www.w3.org/2000/svg}"


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314 - our own output


def test_score_bars_hatch_categories_and_mark_suppressed_values() -> None:
    """Proves: one bar per shown value, each category with its own hatch pattern (B/W-readable),
    the legend names the categories, a suppressed value is written, not drawn."""
    svg = _svg(score_bars("t", "Indeks", [("Rentan unit", 60.0), ("Waspada unit", 75.0), ("Terjaga unit", 85.0),
                                          ("Kecil", None)]).svg())
    texts = " ".join("".join(t.itertext()) for t in svg.iter(f"{NS}text"))
    for word in ("Rentan unit", "60,00", "75,00", "85,00", "disembunyikan", "Rentan", "Waspada", "Terjaga", "73", "78"):
        assert word in texts, word
    patterns = {p.get("id") for p in svg.iter(f"{NS}pattern")}
    assert len(patterns) >= 2  # Rentan and Waspada hatches differ (Terjaga is plain)
    assert svg.get("role") == "img" and svg.get("aria-label") == "Indeks"


def test_labels_are_escaped_and_ids_prefixed() -> None:
    """Proves: a hostile unit name stays text (no element, no mathtext), ids do not collide."""
    a = score_bars("a", "x", [("<script>alert(1)</script> $5$", 70.0)]).svg()
    b = score_bars("b", "x", [("<script>alert(1)</script> $5$", 70.0)]).svg()
    root = _svg(a)
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert "$5$" in "".join(root.itertext())
    ids_a = {el.get("id") for el in root.iter() if el.get("id")}
    ids_b = {el.get("id") for el in _svg(b).iter() if el.get("id")}
    assert ids_a and not ids_a & ids_b


def test_counts_show_suppressed_cells_and_history_draws_target() -> None:
    """Proves: a suppressed count is written '<5'; the history chart carries the target line label;
    the PDF form is a real one-page vector PDF with its text."""
    counts = count_bars("c", "Usia", [("25-34", 12), ("55+", None)], 5)
    assert "<5" in "".join(_svg(counts.svg()).itertext())
    hist = history_lines("h", "Riwayat", [2022, 2023, 2024], {"Indeks": [70.1, None, 74.6]}, 78)
    assert "Target Bappenas 78" in "".join(_svg(hist.svg()).itertext())
    doc = pdfium.PdfDocument(hist.pdf())
    try:
        assert len(doc) == 1 and "Target Bappenas 78" in doc[0].get_textpage().get_text_range()
    finally:
        doc.close()
