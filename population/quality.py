"""The data-quality report of an institution's population, per unit (docs/architecture.md §2,
step 1). A record is *clean* when it is usable (status eligible or excluded);
unusable records carry the reason and the file/sheet/row a unit must fix.

`quality_report` feeds the PIC dashboard (monitor/); `write_xlsx` writes the workbook a PIC sends
back to the units: a summary sheet and one sheet per unit listing every row to fix.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.datafiles import read_yaml
from core.labels import label
from core.models import Institution, Person, Unit
from core.numbers import PERCENT_FORMAT
from population.rows import INVALID_EMAIL, MULTIPLE_PHONES

DATA = Path(__file__).parent / "data"
EXAMPLES_PER_UNIT = 5
NO_UNIT = "(tanpa unit)"


@cache
def reason_texts() -> dict[str, str]:
    raw = read_yaml(DATA / "reasons.yaml")
    return {**raw["unusable"], **raw["excluded"], **raw.get("notes", {})}


@dataclass(frozen=True)
class ProblemRow:
    group: str
    name: str
    reason: str | None
    source_file: str | None
    source_sheet: str | None
    source_row: int | None

    @property
    def problem(self) -> str:
        """The first sentence of the reason's text ("Nama kosong.")."""
        return _split(self._text())[0]

    @property
    def how_to_fix(self) -> str:
        """The rest of the reason's text ("Isi nama lengkap.")."""
        return _split(self._text())[1]

    def _text(self) -> str:
        # An unusable row without a recorded reason (rows written before reasons were kept, or
        # by hand) still gets a sentence, never a crash of the whole workbook.
        texts = reason_texts()
        return texts.get(self.reason or "", self.reason or texts["unrecorded"])


def _split(text: str) -> tuple[str, str]:
    head, dot, rest = text.partition(". ")
    return (head + dot.strip(), rest) if rest else (text, "")


@dataclass
class UnitQuality:
    unit: str
    unit_code: str
    rows: int = 0
    clean: int = 0
    clean_pct: float = 0.0
    internal_rows: int = 0
    internal_clean_pct: float | None = None
    external_rows: int = 0  # service users and vendors
    external_clean_pct: float | None = None
    eligible: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    unusable: dict[str, int] = field(default_factory=dict)
    examples: list[ProblemRow] = field(default_factory=list)


@dataclass
class QualityReport:
    institution_id: int
    institution_name: str
    generated_at: datetime
    units: list[UnitQuality]
    totals: dict[str, dict[str, Any]]  # per group: rows, clean, clean_pct
    problems: dict[str, list[ProblemRow]]  # unit code -> every unusable row

    @property
    def clean_pct(self) -> float:
        rows = sum(t["rows"] for t in self.totals.values())
        return _pct(sum(t["clean"] for t in self.totals.values()), rows) or 0.0


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def quality_report(session: Session, institution_id: int) -> QualityReport:
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise ValueError(f"institution {institution_id} does not exist")
    units = {u.id: u for u in session.scalars(select(Unit).where(col(Unit.institution_id) == institution_id))}
    by_unit: dict[int | None, UnitQuality] = {}
    group_rows: dict[tuple[int | None, str], list[int]] = defaultdict(lambda: [0, 0])
    totals: dict[str, dict[str, Any]] = {}
    query = (
        select(col(Person.unit_id), col(Person.group), col(Person.status), col(Person.reason), func.count())
        .where(col(Person.institution_id) == institution_id)
        .group_by(col(Person.unit_id), col(Person.group), col(Person.status), col(Person.reason))
    )
    for unit_id, group, status, reason, n in session.execute(query):
        unit = units.get(unit_id)
        uq = by_unit.setdefault(unit_id, UnitQuality(unit.name if unit else NO_UNIT, unit.code if unit else "-"))
        clean = n if status != "unusable" else 0
        uq.rows += n
        uq.clean += clean
        survey = "external" if group == "vendor" else group
        group_rows[(unit_id, survey)][0] += n
        group_rows[(unit_id, survey)][1] += clean
        total = totals.setdefault(group, {"rows": 0, "clean": 0})
        total["rows"] += n
        total["clean"] += clean
        if status == "eligible":
            uq.eligible += n
        elif status == "excluded":
            uq.excluded[reason] = uq.excluded.get(reason, 0) + n
        else:
            uq.unusable[reason] = uq.unusable.get(reason, 0) + n
    for unit_id, uq in by_unit.items():
        uq.clean_pct = _pct(uq.clean, uq.rows) or 0.0
        uq.internal_rows, internal_clean = group_rows.get((unit_id, "internal"), [0, 0])
        uq.internal_clean_pct = _pct(internal_clean, uq.internal_rows)
        uq.external_rows, external_clean = group_rows.get((unit_id, "external"), [0, 0])
        uq.external_clean_pct = _pct(external_clean, uq.external_rows)
    for total in totals.values():
        total["clean_pct"] = _pct(total["clean"], total["rows"])
    problems: dict[str, list[ProblemRow]] = defaultdict(list)
    rows = session.execute(
        select(col(Person.unit_id), col(Person.group), col(Person.name), col(Person.reason), col(Person.source_file),
               col(Person.source_sheet), col(Person.source_row))
        .where(col(Person.institution_id) == institution_id, col(Person.status) == "unusable")
    )
    for unit_id, group, name, reason, sfile, ssheet, srow in rows:
        problems[by_unit[unit_id].unit_code].append(ProblemRow(group, name, reason, sfile, ssheet, srow))
    # Rows used but worth a look: a phone cell with several numbers (the first mobile was taken),
    # an email cell that is not an address (the row goes by its phone; the email is not used).
    for flag in (MULTIPLE_PHONES, INVALID_EMAIL):
        noted = session.execute(
            select(col(Person.unit_id), col(Person.group), col(Person.name), col(Person.source_file),
                   col(Person.source_sheet), col(Person.source_row))
            .where(col(Person.institution_id) == institution_id, col(Person.status) != "unusable",
                   cast(col(Person.flags), String).like(f"%{flag}%"))
        )
        for unit_id, group, name, sfile, ssheet, srow in noted:
            problems[by_unit[unit_id].unit_code].append(ProblemRow(group, name, flag, sfile, ssheet, srow))
    for items in problems.values():
        items.sort(key=lambda p: (p.source_file or "", p.source_sheet or "", p.source_row or 0, p.name))
    for uq in by_unit.values():
        uq.examples = problems.get(uq.unit_code, [])[:EXAMPLES_PER_UNIT]
    ordered = sorted(by_unit.values(), key=lambda u: (u.clean_pct, u.unit))
    return QualityReport(institution_id, institution.name, utcnow(), ordered, totals, dict(problems))


def _sheet_title(name: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", " ", name)[:31].strip() or "Unit"
    base, n = title, 2
    while title.lower() in used:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title.lower())
    return title


def write_xlsx(report: QualityReport, path: Path, *, unit_code: str | None = None) -> Path:
    """A workbook for the PIC to send back: "Ringkasan" (per unit) and one sheet per unit with
    every row to fix (file, sheet, row, name, problem, how to fix). `unit_code` limits it to one unit."""
    # here, not at the top: openpyxl adds 50-120 ms to `spibot --help`, which imports this module
    # through population.cli (measured 2026-12-07)
    from openpyxl import Workbook
    from openpyxl.styles import Font  # here too: same reason

    units = [u for u in report.units if unit_code is None or u.unit_code == unit_code]
    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = "Ringkasan"
    summary.append([f"Kualitas data populasi — {report.institution_name}"])
    summary.append([f"Dibuat {report.generated_at:%Y-%m-%d %H:%M} UTC. Data bersih = lengkap dan dapat dipakai."])
    summary.append([])
    header = ["Unit kerja", "Jumlah baris", "Bersih", "% bersih", "% bersih pegawai",
              "% bersih pengguna layanan", "Memenuhi syarat", "Tidak dapat dipakai (alasan)", "Dikecualikan (alasan)"]
    summary.append(header)
    for cell in summary[4]:
        cell.font = Font(bold=True)
    for u in units:
        summary.append([u.unit, u.rows, u.clean, _share(u.clean_pct), _share(u.internal_clean_pct),
                        _share(u.external_clean_pct), u.eligible, _reasons(u.unusable), _reasons(u.excluded)])
        for cell in summary[summary.max_row][3:6]:
            cell.number_format = PERCENT_FORMAT  # a number the PIC can sort and sum, shown as 83,7%
    used = {"ringkasan"}
    for u in units:
        problems = report.problems.get(u.unit_code, [])
        if not problems:
            continue
        sheet = workbook.create_sheet(_sheet_title(u.unit, used))
        sheet.append([f"Baris yang perlu diperbaiki — {u.unit}"])
        sheet.append(["Berkas", "Sheet", "Baris", "Kelompok", "Nama", "Masalah", "Cara memperbaiki"])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for p in problems:
            sheet.append([p.source_file, p.source_sheet, p.source_row, label("form", p.group), p.name, p.problem,
                          p.how_to_fix])
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # a name typed as "=..." stays text, never a formula
    path = Path(path)
    workbook.save(path)
    return path


def _share(points: float | None) -> float | None:
    """A percentage in points (83.7) as the share an .xlsx percent cell holds (0.837)."""
    return None if points is None else round(points / 100.0, 6)


def _reasons(counts: dict[str, int]) -> str:
    texts = reason_texts()
    return "; ".join(f"{_split(texts.get(k, k))[0].rstrip('.')} ({v})"
                     for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
