"""Chunked, column-by-column cleaning gives every row what cleaning it alone gives."""

from __future__ import annotations

import random
from datetime import date, datetime

import pytest

from population.rows import parse_row, parse_rows

COLUMNS = {"unit": 0, "name": 1, "start_date": 2, "position": 3, "phone": 4, "email": 5, "note": 6}


@pytest.mark.parametrize("cells", [
    ["-", "tidak ada", None, "", "0", "n@a", "-"],  # only empty markers
    [None, "dst", None, None, "-", None, None],
    [1, 2, 3, 4, 5, 6, 7],  # column numbers stored as numbers
    ["", "", "", "", "", "", ""],
])
def test_rows_that_are_not_data(cells: list[object]) -> None:
    assert parse_row("internal", COLUMNS, cells, 9) is None


@pytest.mark.parametrize(("cells", "phone"), [
    ([None, None, None, None, "12", None, None], None),  # short, but not a marker: data
    (["Dinas", "dst", None, None, None, None, None], None),
    ([None, "Ani", None, None, 81234567890.0, None, None], "+6281234567890"),
    ([None, "Ani", None, None, "٠٨١٢٣٤٥٦٧٨٩٠", None, None], None),  # not ASCII digits
    ([None, "Ani", None, None, "+62 (0)812-3456-7890", None, None], "+6281234567890"),
])
def test_rows_that_are_data(cells: list[object], phone: str | None) -> None:
    record = parse_row("internal", COLUMNS, cells, 9)
    assert record is not None and record.phone == phone


def test_a_chunk_equals_its_rows_one_by_one() -> None:
    rng = random.Random(4)
    pool: list[list[object]] = [
        ["Dinas Sosial", " dinas  sosial ", "-", "Puskesmas A", None, 3.0, "dst"],
        ["Budi", "RINA  wati", "tidak ada", None, "", "Siti", 12, "dst"],
        [date(2020, 1, 2), datetime(2019, 3, 4, 0, 0), "13/10/2019", "13 Oktober 2019", 43000, "lupa", None, "-"],
        ["Analis", "Kepala Dinas Sosial", "Sopir", None, "-", "Tenaga Honorer"],
        ["0813-3448-1749", "+62 813 3448 1749", 81334481749, "813", "0", "-", None, "12"],
        ["budi@Gmail.COM ", "n@a", "x@", None, "-", "a.b@kab.go.id"],
        ["PNS", "Non ASN", "THL", None, "-"],
    ]
    rows = [[rng.choice(options) for options in pool] for _ in range(400)]
    for i in range(0, 400, 37):
        rows[i] = rng.choice([["-", "dst", None, "", "0", "n@a", "-"], [1, 2, 3, 4, 5, 6, 7], [None] * 3])
    chunked = parse_rows("internal", COLUMNS, rows, 10)
    assert chunked == [parse_row("internal", COLUMNS, cells, 10 + i) for i, cells in enumerate(rows)]
    assert any(r is None for r in chunked) and any(r is not None and r.non_asn for r in chunked)
