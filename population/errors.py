"""Errors of the population package.

    IntakeError      a file or sheet that cannot be imported (nothing was written)
    SamplingError    a sample that cannot be drawn (nothing was written)
"""

from __future__ import annotations

from core.errors import SpibotError


class IntakeError(SpibotError):
    """A file- or sheet-level problem: the message says what, where and how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file, self.sheet, self.row, self.column = file, sheet, row, column
        where = ", ".join(
            part
            for part in (
                f"file {file!r}" if file else "",
                f"sheet {sheet!r}" if sheet else "",
                f"baris/row {row}" if row else "",
                f"kolom/column {column}" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class SamplingError(SpibotError):
    """A sample that cannot be drawn (already drawn, no population, bad margin...)."""
