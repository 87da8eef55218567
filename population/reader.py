"""Reading population files: every sheet of an .xlsx (python-calamine) and .csv files.

`scan(path)` finds each sheet's header row by its wording and recognises its form; an .xlsx
sheet is parsed once (calamine reads a sheet whole) and kept, without the workbook, until
`raw_rows(ref)` hands its rows over; CSV files are streamed. A file that
cannot be read, or a sheet with content but no recognisable header, raises IntakeError.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from pathlib import Path
from typing import Any

from python_calamine import CalamineSheet, CalamineWorkbook

from core.datafiles import read_yaml
from population.errors import IntakeError
from population.normalize import has_phrase, norm_key

DATA = Path(__file__).parent / "data"
HEADER_SCAN_ROWS = 40
FORMS = ("internal", "external", "vendor", "expert")


@dataclass(frozen=True)
class FormSpec:
    form: str
    require: tuple[tuple[str, ...], ...]
    fields: tuple[tuple[str, tuple[str, ...]], ...]  # in matching order


@dataclass(frozen=True)
class Layout:
    form: str
    header_row: int  # 1-based
    columns: dict[str, int]  # field -> 0-based column index


@dataclass(frozen=True)
class SheetRef:
    path: Path
    sheet: str | None  # None for CSV
    layout: Layout
    # The sheet as `scan` loaded it, handed over once to `raw_rows` (an .xlsx sheet is parsed
    # whole by calamine: loading it twice would double the cost of reading the file).
    loaded: list[CalamineSheet] = dc_field(default_factory=list, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.sheet}" if self.sheet else self.path.name


@cache
def form_specs() -> tuple[FormSpec, ...]:
    raw = read_yaml(DATA / "headers.yaml")["forms"]
    specs = []
    for form, spec in raw.items():
        fields = tuple(
            (field, tuple(norm_key(p) for p in phrases)) for field, phrases in spec["fields"].items()
        )
        specs.append(FormSpec(form, tuple(tuple(group) for group in spec["require"]), fields))
    return tuple(specs)


def match_header(cells: list[Any], row_number: int) -> Layout | None:
    """The form whose header this row is, with its column map; None if it is no header."""
    keys = [norm_key(c) if isinstance(c, str) else "" for c in cells]
    if sum(1 for k in keys if k) < 3:
        return None
    best: Layout | None = None
    for spec in form_specs():
        columns: dict[str, int] = {}
        for index, key in enumerate(keys):
            if not key:
                continue
            for field, phrases in spec.fields:
                if field not in columns and has_phrase(key, phrases):
                    columns[field] = index
                    break
        if len(columns) < 3 or not all(any(f in columns for f in g) for g in spec.require):
            continue
        if best is None or len(columns) > len(best.columns):
            best = Layout(spec.form, row_number, columns)
    return best


def _open_workbook(path: Path) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises several error types
        raise IntakeError(
            f"berkas tidak dapat dibaca sebagai Excel .xlsx ({exc}). Simpan ulang sebagai .xlsx / "
            "cannot be read as an .xlsx workbook; re-save it as .xlsx",
            file=path.name,
        ) from exc


def _sheet_rows(path: Path, sheet: str) -> Iterator[list[Any]]:
    workbook = _open_workbook(path)
    try:
        data = workbook.get_sheet_by_name(sheet)
        yield from data.iter_rows()
    except IntakeError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise IntakeError(f"sheet tidak dapat dibaca / cannot read sheet ({exc})",
                          file=path.name, sheet=sheet) from exc
    finally:
        workbook.close()


def _csv_rows(path: Path) -> Iterator[list[Any]]:
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise IntakeError(f"berkas tidak dapat dibuka / cannot open file ({exc})", file=path.name) from exc
    with raw:
        head = raw.read(65536)
        encoding = "utf-8-sig"
        try:
            head.decode("utf-8-sig")
        except UnicodeDecodeError:
            encoding = "cp1252"  # Excel's "CSV" on Windows
        raw.seek(0)
        text = head.decode(encoding, errors="replace")
        first = text.split("\n", 1)[0]
        delimiter = max((";", ",", "\t"), key=lambda d: (first.count(d), d == ","))
        stream = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
        try:
            yield from csv.reader(stream, delimiter=delimiter)
        except csv.Error as exc:
            raise IntakeError(f"CSV rusak / malformed CSV ({exc})", file=path.name) from exc


def raw_rows(ref: SheetRef) -> Iterator[list[Any]]:
    if ref.sheet is None:
        return _csv_rows(ref.path)
    if ref.loaded:
        return _iter_sheet(ref.loaded.pop(), ref.path, ref.sheet)
    return _sheet_rows(ref.path, ref.sheet)


def _load_sheet(workbook: CalamineWorkbook, path: Path, sheet: str) -> CalamineSheet:
    try:
        return workbook.get_sheet_by_name(sheet)
    except Exception as exc:  # noqa: BLE001
        raise IntakeError(f"sheet tidak dapat dibaca / cannot read sheet ({exc})",
                          file=path.name, sheet=sheet) from exc


def _iter_sheet(data: CalamineSheet, path: Path, sheet: str) -> Iterator[list[Any]]:
    try:
        yield from data.iter_rows()
    except Exception as exc:  # noqa: BLE001
        raise IntakeError(f"sheet tidak dapat dibaca / cannot read sheet ({exc})",
                          file=path.name, sheet=sheet) from exc


def _find_header(rows: Iterator[list[Any]], path: Path, sheet: str | None) -> Layout | None:
    seen_content = False
    for number, cells in enumerate(rows, start=1):
        if any(c not in (None, "") for c in cells):
            seen_content = True
        layout = match_header(cells, number)
        if layout is not None:
            return layout
        if number >= HEADER_SCAN_ROWS:
            break
    if not seen_content:
        return None  # an empty sheet: nothing to import, nothing wrong
    forms = "internal (Nama Pegawai, Unit Kerja, Tanggal mulai bekerja, Jabatan), external (Unit Kerja, " \
            "Nama Layanan, Tanggal Mengurus Layanan, Nama Pengguna Layanan), PBJ (Unit Kerja Pengadaan, " \
            "Nama Usaha Penyedia, Nama Contact Person, Tanggal Proses Pengadaan), eksper (Kriteria Ahli, " \
            "Nama Narasumber Ahli)"
    raise IntakeError(
        f"baris judul kolom tidak dikenali di {HEADER_SCAN_ROWS} baris pertama. Pakai judul kolom "
        f"formulir KPK / no recognisable header row in the first {HEADER_SCAN_ROWS} rows; use the "
        f"KPK form headers: {forms}",
        file=path.name, sheet=sheet,
    )


def scan(path: Path) -> list[SheetRef]:
    """Every importable sheet of a file, with its form and columns (empty sheets are skipped)."""
    if not path.exists():
        raise IntakeError("berkas tidak ditemukan / file not found", file=str(path))
    suffix = path.suffix.lower()
    refs: list[SheetRef] = []
    if suffix == ".csv":
        layout = _find_header(_csv_rows(path), path, None)
        if layout is None:
            raise IntakeError("berkas CSV kosong / the CSV file is empty", file=path.name)
        return [SheetRef(path, None, layout)]
    if suffix not in (".xlsx", ".xlsm", ".xls", ".ods"):
        raise IntakeError(
            f"jenis berkas {suffix or '(tanpa ekstensi)'} tidak didukung; kirim .xlsx atau .csv / "
            "unsupported file type; send .xlsx or .csv", file=path.name,
        )
    workbook = _open_workbook(path)
    try:
        for name in list(workbook.sheet_names):
            data = _load_sheet(workbook, path, name)
            layout = _find_header(_iter_sheet(data, path, name), path, name)
            if layout is not None:
                refs.append(SheetRef(path, name, layout, [data]))
    finally:
        workbook.close()
    if not refs:
        raise IntakeError("tidak ada sheet berisi data populasi / no sheet with population data",
                          file=path.name)
    return refs
