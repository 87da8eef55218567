"""A dry run of `import_files`: what each file and sheet holds, before anything is written.

`preview_files` reads every file the way the importer does (`reader.scan` finds each sheet's
header row and form, `rows.parse_rows` with the sheet's `Footer` tells data rows from the lines
under the table) and reports, per sheet: the form, the header row, the number of data rows,
the footer rows ignored, the rows that cannot be used (missing name, unit, contact...) and the
units named. It writes nothing; a file or sheet the importer would refuse raises the same
IntakeError here, so the PIC learns it before pressing "Simpan".

`describe_error` turns an IntakeError into one Indonesian sentence for a page: where (file,
sheet, row, column) and how to fix it.

The dashboard's "Kumpulkan data" page also reads from here what arrived per unit
(`unit_arrivals`), adds a unit by hand (`add_unit`, coded like the importer codes it, so a
later file for that unit lands on it) and asks whether a campaign's sample was drawn
(`sample_drawn`). `import_files` and `IntakeError` are re-exported for it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.models import Person, Unit
from population.errors import IntakeError
from population.footer import Footer
from population.importer import import_files, unit_code
from population.models import ImportBatch, SampleDraw
from population.reader import SheetRef, raw_rows, scan
from population.records import unusable_reason
from population.reimport import already_imported
from population.rows import parse_rows
from population.rules import is_excluded_unit

__all__ = [
    "FilePreview", "IntakeError", "SheetPreview", "UnitArrival", "add_unit", "default_reference_date",
    "describe_error", "import_files", "preview_files", "sample_drawn", "unit_arrivals",
]

PARSE_CHUNK = 2_000
MAX_UNITS_SHOWN = 50  # unit names kept per sheet (a sheet may name hundreds)


@dataclass
class SheetPreview:
    file: str
    sheet: str | None  # None for a CSV file
    form: str  # internal, external, vendor, expert
    header_row: int  # 1-based
    rows: int = 0  # data rows (blank lines, column numbers and the footer excluded)
    footer_rows: int = 0  # signature block, notes, totals under the table: not data
    unusable: dict[str, int] = field(default_factory=dict)  # reason -> rows (the unit must fix them)
    units: list[str] = field(default_factory=list)  # unit names as written (first MAX_UNITS_SHOWN)
    unit_count: int = 0

    @property
    def unusable_rows(self) -> int:
        return sum(self.unusable.values())

    @property
    def clean_pct(self) -> float | None:
        """Rows usable as they are, in percent (the verdict's first step; exclusions come later)."""
        return round(100.0 * (self.rows - self.unusable_rows) / self.rows, 1) if self.rows else None


@dataclass
class FilePreview:
    name: str
    size: int
    sha256: str
    sheets: list[SheetPreview]
    imported_before: bool = False  # the same content was imported before: "Simpan" skips it

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256,
                "imported_before": self.imported_before,
                "sheets": [{**s.__dict__, "unusable_rows": s.unusable_rows, "clean_pct": s.clean_pct}
                           for s in self.sheets]}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def preview_sheet(ref: SheetRef) -> SheetPreview:
    """Count one sheet's data rows, footer rows and unusable rows (nothing is written)."""
    layout = ref.layout
    out = SheetPreview(ref.path.name, ref.sheet, layout.form, layout.header_row)
    rows = raw_rows(ref)
    for _ in islice(rows, layout.header_row):
        pass
    first, footer = layout.header_row + 1, Footer()
    unusable: Counter[str] = Counter()
    units: dict[str, None] = {}
    while chunk := list(islice(rows, PARSE_CHUNK)):
        for record in parse_rows(layout.form, layout.columns, chunk, first, footer):
            if record is None:
                continue
            out.rows += 1
            reason = unusable_reason(record)
            if reason:
                unusable[reason] += 1
            if record.unit_name:
                units.setdefault(record.unit_name)
        first += len(chunk)
    out.footer_rows = footer.rows
    out.unusable = dict(unusable.most_common())
    out.unit_count = len(units)
    out.units = list(islice(units, MAX_UNITS_SHOWN))
    return out


def preview_files(session: Session | None, paths: list[Path], institution_id: int | None = None) -> list[FilePreview]:
    """Every file's sheets as `import_files` would read them. Raises IntakeError (the same
    refusal the import would give) on a file or sheet that cannot be imported. With a session
    and an institution, files whose content that institution imported before are marked."""
    previews = []
    for path in paths:
        refs = scan(path)
        previews.append(FilePreview(path.name, path.stat().st_size, sha256_of(path),
                                    [preview_sheet(ref) for ref in refs]))
    if session is not None and institution_id is not None:
        entries = {f"{p.name} sha256:{p.sha256}": p for p in previews}
        for entry in already_imported(session, institution_id, entries):
            entries[entry].imported_before = True
    return previews


HOW_TO_FIX = {
    "judul kolom": "Pastikan baris judul kolom memakai judul formulir KPK, misalnya pegawai: Nama Pegawai, "
                   "Unit Kerja, Tanggal mulai bekerja, Jabatan; pengguna layanan: Unit Kerja, Nama Layanan, "
                   "Tanggal Mengurus Layanan, Nama Pengguna Layanan; penyedia: Unit Kerja Pengadaan, Nama Usaha "
                   "Penyedia, Nama Contact Person, Tanggal Proses Pengadaan; eksper: Kriteria Ahli, Nama "
                   "Narasumber Ahli.",
    "tidak dapat dibaca sebagai": "",  # the message says how already (re-save as .xlsx)
    "tidak dapat dibaca": "Buka berkas di Excel lalu simpan ulang sebagai .xlsx (Excel Workbook) atau .csv.",
    "tidak didukung": "Kirim berkas .xlsx atau .csv.",
    "tidak ada sheet": "Isi data populasi pada formulir KPK di salah satu sheet.",
    "kosong": "Isi data populasi pada formulir KPK.",
    "rusak": "Simpan ulang berkas dari Excel sebagai CSV (dipisahkan koma atau titik koma).",
}


def describe_error(exc: IntakeError) -> str:
    """One Indonesian sentence: where (file, sheet, row, column), what, and how to fix it."""
    where = ", ".join(part for part in (
        f"berkas «{exc.file}»" if exc.file else "",
        f"sheet «{exc.sheet}»" if exc.sheet else "",
        f"baris {exc.row}" if exc.row else "",
        f"kolom {exc.column}" if exc.column else "",
    ) if part)
    text = str(exc)
    prefix = _prefix(exc)
    if prefix and text.startswith(prefix):
        text = text[len(prefix):]
    what = text.split(" / ", 1)[0].strip().rstrip(".")
    fix = next((hint for key, hint in HOW_TO_FIX.items() if key in what), "")
    sentence = f"{what[:1].upper()}{what[1:]}."
    if where:
        sentence = f"{where[:1].upper()}{where[1:]}: {what}."
    return f"{sentence} {fix}".strip()


def _prefix(exc: IntakeError) -> str:
    """The location prefix IntakeError put in front of its message (see population.errors)."""
    where = ", ".join(part for part in (
        f"file {exc.file!r}" if exc.file else "",
        f"sheet {exc.sheet!r}" if exc.sheet else "",
        f"baris/row {exc.row}" if exc.row else "",
        f"kolom/column {exc.column}" if exc.column else "",
    ) if part)
    return f"{where}: " if where else ""


def default_reference_date(today: date, closes: date) -> date:
    """The reference date of an import from the dashboard: today, but never after the campaign
    closes (tenure and the 12-month service window end on it)."""
    return min(today, closes)


# --- what arrived per unit, units added by hand, the draw -----------------------------------------


@dataclass
class UnitArrival:
    """The imported rows of one unit (None: rows without a unit, e.g. experts)."""

    unit_id: int | None
    rows: int = 0
    files: list[str] = field(default_factory=list)  # source file names, as stored
    last_import: datetime | None = None  # when its latest file was imported


def unit_arrivals(session: Session, institution_id: int) -> dict[int | None, UnitArrival]:
    """Per unit: imported rows, the files they came from and when the latest was imported
    (one grouped scan of the institution's imported rows)."""
    batches = dict(session.execute(select(col(ImportBatch.id), col(ImportBatch.created_at))
                                   .where(col(ImportBatch.institution_id) == institution_id)).all())
    out: dict[int | None, UnitArrival] = {}
    query = (select(col(Person.unit_id), col(Person.import_batch_id), col(Person.source_file), func.count())
             .where(col(Person.institution_id) == institution_id, col(Person.import_batch_id).is_not(None))
             .group_by(col(Person.unit_id), col(Person.import_batch_id), col(Person.source_file)))
    for unit_id, batch_id, source_file, n in session.execute(query):
        arrival = out.setdefault(unit_id, UnitArrival(unit_id))
        arrival.rows += n
        if source_file and source_file not in arrival.files:
            arrival.files.append(source_file)
        at = batches.get(batch_id)
        if at is not None and (arrival.last_import is None or at > arrival.last_import):
            arrival.last_import = at
    for arrival in out.values():
        arrival.files.sort()
    return out


def add_unit(session: Session, institution_id: int, name: str) -> Unit:
    """A unit expected to send its list, added by hand. Its code is the one the importer gives
    the same name (`importer.unit_code`), so the unit's file, when it comes, lands on it.
    Raises IntakeError for an empty name or a unit that exists already."""
    name = " ".join(name.split())[:200]
    if not name:
        raise IntakeError("Nama unit kerja wajib diisi.")
    code = unit_code(name)
    existing = session.execute(select(col(Unit.name)).where(
        col(Unit.institution_id) == institution_id, col(Unit.code) == code)).scalar()
    if existing is not None:
        raise IntakeError(f"Unit kerja «{existing}» sudah ada dalam daftar.")
    unit = Unit(institution_id=institution_id, code=code, name=name, serves_public=not is_excluded_unit(name))
    session.add(unit)
    session.flush()
    return unit


def sample_drawn(session: Session, campaign_id: int) -> bool:
    """Whether the campaign has a (current) sample draw."""
    return session.execute(select(col(SampleDraw.id)).where(
        col(SampleDraw.campaign_id) == campaign_id, col(SampleDraw.current).is_(True)).limit(1)).first() is not None
