"""One shape for every dashboard table, so each page and its CSV/.xlsx export come from the same
rows (what the PIC sees is exactly what they download)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from core.numbers import PERCENT_FORMAT, Percent

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    name: str  # url-safe; the export file name
    title: str  # Indonesian heading
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    highlight: set[int] = field(default_factory=set)  # row indices shown as "lowest"
    # Optional live keys, same shape as rows (None where a cell does not refresh).
    live_keys: list[list[str | None]] | None = None
    note: str = ""  # shown under the table (e.g. where data is not available yet)

    def cells(self) -> list[list[tuple[Any, str | None]]]:
        """Rows as (value, live key) pairs for the template."""
        keys = self.live_keys or [[None] * len(self.columns) for _ in self.rows]
        return [list(zip(row, key_row, strict=False)) for row, key_row in zip(self.rows, keys, strict=False)]


def _formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(_FORMULA_START) and value != "-"


def _safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in CSV text cells (formula injection from contact data); a
    percentage is written as the page shows it ("83,7%")."""
    if isinstance(value, Percent):
        return str(value)
    if _formula_like(value):
        return "'" + value
    return value


def _xlsx_cell(cell: Any) -> None:
    """A Percent as a number with a percent format; formula-like text stays text (typed as a
    string, no leading apostrophe)."""
    if isinstance(cell.value, Percent):
        cell.value = float(cell.value)
        cell.number_format = PERCENT_FORMAT
    elif _formula_like(cell.value):
        cell.data_type = "s"
        cell.quotePrefix = True


def to_csv(table: Table) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_safe(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 correctly


def to_xlsx(table: Table) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = re.sub(r"[\[\]:*?/\\]", " ", table.title)[:31] or "Data"
    ws.append(table.columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    low = PatternFill("solid", fgColor="FDE2E1")
    for index, row in enumerate(table.rows):
        ws.append(list(row))
        for cell in ws[ws.max_row]:
            _xlsx_cell(cell)
            if index in table.highlight:
                cell.fill = low
    for column in ws.columns:
        width = max((len(str(c.value)) for c in column if c.value is not None), default=8)
        ws.column_dimensions[column[0].column_letter].width = min(max(width + 2, 8), 60)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def lowest(rates: list[float | None], n: int = 3) -> set[int]:
    """Indices of the n lowest known rates (ties broken by position)."""
    known = sorted((r, i) for i, r in enumerate(rates) if r is not None)
    return {i for _, i in known[:n]}
