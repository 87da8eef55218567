"""Numbers and percentages as an Indonesian reader writes them (Babel, locale id_ID): "1.234",
"83,7%". Used by the templates' `ribuan`/`persen` filters, the dashboard tables and the exports.

A `Percent` is a share (0.837) that prints as "83,7%" on a page and is written to an .xlsx as the
number 0.837 with a percent number format (`PERCENT_FORMAT`), never as text.
"""

from __future__ import annotations

from babel.numbers import format_decimal, format_percent

LOCALE = "id_ID"
PERCENT_PATTERN = "#,##0.0%"
PERCENT_FORMAT = "0.0%"  # the .xlsx number format of a Percent cell (Excel shows it in the reader's locale)


def ribuan(value: float | None) -> str:
    """1234 -> "1.234"; 1234.5 -> "1.234,5"; None -> "-"."""
    if value is None:
        return "-"
    return format_decimal(float(value) if isinstance(value, float) else value, locale=LOCALE)


def persen(share: float | None) -> str:
    """A share as a percentage with one decimal: 0.837 -> "83,7%"; None -> "-"."""
    if share is None:
        return "-"
    return format_percent(float(share), format=PERCENT_PATTERN, locale=LOCALE)


def desimal(value: float | None, places: int = 2) -> str:
    """83.456 -> "83,46" (an index or points, `places` decimals); None -> "-"."""
    if value is None:
        return "-"
    return format_decimal(float(value), "#,##0." + "0" * places, locale=LOCALE)


class Percent(float):
    """A share shown as a percentage (see the module docstring)."""

    __slots__ = ()

    def __str__(self) -> str:
        return persen(self)

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else float.__format__(self, spec)


def share(value: float | None) -> Percent | None:
    """A share (0..1) as a Percent; None stays None (shown as "-")."""
    return None if value is None else Percent(value)


def points(value: float | None) -> Percent | None:
    """A percentage in points (83.7) as a Percent (0.837)."""
    return None if value is None else Percent(round(value / 100.0, 6))
