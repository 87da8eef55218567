"""Local time at the edges: every Indonesian zone an institution can be set to reads as WIB, WITA
or WIT, never as an IANA name (a PIC in Kalimantan Barat saw "Asia/Pontianak")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import format_datetime_id


@pytest.mark.parametrize(("tz", "expected"), [
    ("Asia/Jakarta", "5 Februari 2027 14.30 WIB"),
    ("Asia/Pontianak", "5 Februari 2027 14.30 WIB"),
    ("Asia/Makassar", "5 Februari 2027 15.30 WITA"),
    ("Asia/Jayapura", "5 Februari 2027 16.30 WIT"),
])
def test_every_indonesian_zone_reads_as_wib_wita_or_wit(tz: str, expected: str) -> None:
    assert format_datetime_id(datetime(2027, 2, 5, 7, 30, tzinfo=UTC), tz) == expected
