"""Deterministic synthetic population data of a kabupaten, laid out like the KPK forms.

`write_population_workbook` writes an .xlsx as units really send it (title rows, header variants,
column-number rows, blank and "dst" rows, phones and dates written every way, stray spaces,
duplicates, shared contacts, support roles, top officials, short tenure, excluded units, non-ASN
staff) and returns the summary the importer must produce, computed independently from the
intended verdict of every generated row. Used by the tests, the demo and the benchmarks.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from core.clock import utcnow
from core.datafiles import read_yaml

DATA = Path(__file__).parent / "data"
FORMS = ("internal", "external", "vendor", "expert")


def _data() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA / "synthetic.yaml")
    return data


def demo_units() -> list[dict[str, Any]]:
    """About ten units of a kabupaten plus a few outside the sampling (`excluded`: True)."""
    return [dict(u, excluded=bool(u.get("excluded", False))) for u in _data()["units"]]


@dataclass
class ExpectedCounts:
    """What importing the generated file must report (same shape as ImportReport.summary())."""

    reference_date: date
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    shared_contact_people: int = 0
    units: set[str] = field(default_factory=set)

    def summary(self) -> dict[str, dict[str, Any]]:
        return {
            form: {**c, "excluded": dict(sorted(c["excluded"].items())),
                   "unusable": dict(sorted(c["unusable"].items()))}
            for form, c in self.forms.items()
        }

    def add(self, form: str, verdict: str) -> None:
        c = self.forms[form]
        c["rows"] += 1
        if verdict == "duplicate":
            c["duplicates"] += 1
        elif verdict in ("eligible", "eligible_non_asn"):
            c["eligible"] += 1
            c["eligible_non_asn"] += verdict == "eligible_non_asn"
        elif verdict in _EXCLUDED:
            c["excluded"][verdict] = c["excluded"].get(verdict, 0) + 1
        else:
            c["unusable"][verdict] = c["unusable"].get(verdict, 0) + 1


_EXCLUDED = {"excluded_unit", "top_official", "support_role", "tenure_under_1_year",
             "outside_service_window", "is_employee"}

# Intended verdicts and their weights in a messy file (clean files: all eligible).
_MIX = {
    "internal": {"eligible": 60, "eligible_non_asn": 8, "duplicate": 3, "shared": 2, "top_official": 1,
                 "support_role": 3, "tenure_under_1_year": 4, "excluded_unit": 5, "missing_name": 1,
                 "missing_unit": 1, "no_valid_contact": 6, "missing_start_date": 4, "missing_position": 2},
    "external": {"eligible": 62, "duplicate": 4, "shared": 2, "outside_service_window": 6,
                 "is_employee": 2, "excluded_unit": 4, "missing_name": 1, "missing_unit": 2,
                 "no_valid_contact": 9, "missing_service_name": 4, "missing_service_date": 4},
    "vendor": {"eligible": 8, "outside_service_window": 1, "no_valid_contact": 1, "missing_service_date": 1},
    "expert": {"eligible": 8, "no_valid_contact": 1, "missing_criterion": 1},
}


class _Gen:
    def __init__(self, seed: int, reference_date: date, messy: bool):
        self.rng = random.Random(seed)
        self.ref, self.messy = reference_date, messy
        self.data = _data()
        self.phone_seq = self.rng.randrange(10_000_000, 20_000_000)
        self.email_seq = 0
        self.no_contact_names: set[tuple[str, str]] = set()

    # --- values ---------------------------------------------------------------------------
    def name(self) -> str:
        d = self.data["names"]
        parts = [self.rng.choice(d["first"]), self.rng.choice(d["last"])]
        if self.rng.random() < 0.3:
            parts.insert(1, self.rng.choice(d["first"]))
        return " ".join(parts)

    def phone(self) -> str:
        """A fresh, valid Indonesian mobile number (national digits, without the 0)."""
        self.phone_seq += self.rng.randrange(1, 97)
        return f"8{self.rng.choice('12355789')}{self.phone_seq:09d}"[:12]

    def email(self, name: str) -> str:
        self.email_seq += 1
        local = ".".join(name.lower().split()[:2]) + str(self.email_seq)
        return f"{local}@{self.rng.choice(self.data['email_domains'])}"

    def fmt_phone(self, nsn: str) -> Any:
        if not self.messy:
            return "0" + nsn
        style = self.rng.randrange(6)
        if style == 0:
            return f"0{nsn[:3]}-{nsn[3:7]}-{nsn[7:]}"
        if style == 1:
            return f"+62 {nsn[:3]} {nsn[3:7]} {nsn[7:]}"
        if style == 2:
            return "62" + nsn
        if style == 3:
            return int(nsn)  # "813..." stored as a number
        if style == 4:
            return f"(+62) {nsn[:3]}-{nsn[3:]}"
        return f"0{nsn}"

    def fmt_email(self, email: str) -> str:
        if not self.messy or self.rng.random() < 0.5:
            return email
        local, domain = email.split("@")
        return f"  {local}@{domain.upper() if self.rng.random() < 0.5 else domain.capitalize()} "

    def fmt_date(self, day: date) -> Any:
        if not self.messy:
            return datetime(day.year, day.month, day.day)  # noqa: DTZ001 - an Excel date cell
        style = self.rng.randrange(6)
        months = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
                  "September", "Oktober", "November", "Desember"]
        return [datetime(day.year, day.month, day.day), f"{day:%d/%m/%Y}", f"{day:%Y-%m-%d}",  # noqa: DTZ001
                f"{day:%d-%m-%Y}", f"{day.day} {months[day.month - 1]} {day.year}",
                (day - date(1899, 12, 30)).days][style]

    def fmt_text(self, text: str) -> str:
        if self.messy and self.rng.random() < 0.15:
            return f" {text.replace(' ', '  ', 1)} "
        return text

    def days_ago(self, low: int, high: int) -> date:
        return self.ref - timedelta(days=self.rng.randrange(low, high))


def _pick(rng: random.Random, mix: dict[str, int]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _base(
    g: _Gen, form: str, units: list[dict[str, Any]], excluded: list[dict[str, Any]], verdict: str
) -> dict[str, Any]:
    unit = g.rng.choice(excluded if verdict == "excluded_unit" else units)
    name = g.name()
    rec: dict[str, Any] = {"unit": unit["name"], "head": unit["head"], "name": name, "phone": g.phone(),
                           "email": g.email(name), "unit_services": unit.get("services") or ["Layanan Umum"]}
    if g.rng.random() < 0.15:
        rec["email"] = None
    elif g.rng.random() < 0.1:
        rec["phone"] = None
    if form == "internal":
        rec["position"] = g.rng.choice(g.data["positions"]["staff"])
        rec["start"] = g.days_ago(400, 8000)
        rec["note"] = g.rng.choice(["PNS", "PPPK", "", "PNS"])
    elif form in ("external", "vendor"):
        rec["service"] = g.rng.choice(rec["unit_services"]) if form == "external" else \
            g.rng.choice(g.data["procurement_jobs"])
        rec["sdate"] = g.days_ago(10, 350)
        rec["org"] = g.rng.choice(g.data["companies"]) if form == "vendor" else None
    else:
        rec["criterion"] = g.rng.choice(g.data["expert_criteria"])
        rec["position"] = g.rng.choice(g.data["positions"]["expert"])
    return rec


def _apply(g: _Gen, form: str, rec: dict[str, Any], verdict: str) -> None:
    """Make a base record deserve its verdict."""
    if verdict == "eligible_non_asn":
        rec["note"] = g.rng.choice(["Non ASN", "Honorer", "THL", "PPNPN", "Tenaga Honorer"])
    elif verdict == "top_official":
        rec["position"] = g.rng.choice(["", "Plt. "]) + rec["head"]
    elif verdict == "support_role":
        rec["position"] = g.rng.choice(g.data["positions"]["support"])
    elif verdict == "tenure_under_1_year":
        rec["start"] = g.days_ago(10, 340)
    elif verdict == "outside_service_window":
        rec["sdate"] = g.days_ago(380, 700)
    elif verdict == "missing_name":
        rec["name"] = g.rng.choice(["", "-"])
    elif verdict == "missing_unit":
        rec["unit"] = ""
    elif verdict == "no_valid_contact":
        rec["phone"] = g.rng.choice(["0536-3221234", "0812-345", "12345", None, "-"])
        rec["email"] = g.rng.choice([None, "budi@", "tidak ada", "nama.gmail.com"])
    elif verdict == "missing_start_date":
        rec["start"] = g.rng.choice([None, "belum diisi", "-"])
    elif verdict == "missing_position":
        rec["position"] = None
    elif verdict == "missing_service_name":
        rec["service"] = None
    elif verdict == "missing_service_date":
        rec["sdate"] = g.rng.choice([None, "-", "lupa"])
    elif verdict == "missing_criterion":
        rec["criterion"] = None


_HEADERS = {
    "internal": [
        [("no", "No"), ("unit", "Unit Kerja/ SKPD/ OPD"), ("name", "Nama Pegawai"),
         ("start", "Tanggal mulai bekerja di unit kerja"), ("position", "Jabatan"),
         ("phone", "No. HP (WA) aktif"), ("email", "E-mail aktif"), ("note", "Keterangan")],
        [("no", "NO."), ("name", "NAMA"), ("nip", "NIP"), ("position", "JABATAN"),
         ("unit", "UNIT KERJA"), ("start", "TGL MULAI BEKERJA DI UNIT"), ("phone", "NOMOR HP/WA"),
         ("email", "ALAMAT EMAIL"), ("note", "KETERANGAN (Non ASN)")],
    ],
    "external": [
        [("no", "No"), ("unit", "Unit Kerja Tempat Mengurus Layanan Publik"),
         ("service", "Nama Layanan yang diterima"), ("sdate", "Tanggal/ Bulan/ Tahun Mengurus Layanan"),
         ("name", "Nama Pengguna Layanan"), ("phone", "No. HP (WA)"), ("email", "E-mail")],
        [("no", "No"), ("name", "Nama Pengguna Layanan"), ("phone", "No HP/WA"), ("email", "Email"),
         ("unit", "Unit Layanan"), ("service", "Jenis Layanan"), ("sdate", "Tgl Layanan")],
    ],
    "vendor": [
        [("no", "No"), ("unit", "Unit Kerja Pengadaan"), ("org", "Nama Usaha Penyedia"),
         ("name", "Nama Contact Person Penyedia"), ("phone", "Nomor Contact Person Penyedia"),
         ("email", "Alamat e-mail Contact Person Penyedia"), ("service", "Nama Pekerjaan"),
         ("sdate", "Tanggal Proses Pengadaan")],
    ],
    "expert": [
        [("no", "No"), ("criterion", "Kriteria Ahli"), ("name", "Nama Narasumber Ahli"),
         ("position", "Jabatan/ Jabatan Terakhir"), ("phone", "No. HP (WA)"), ("email", "E-mail")],
    ],
}
_TITLES = {"internal": "DATA POPULASI RESPONDEN INTERNAL (PEGAWAI)",
           "external": "DATA POPULASI RESPONDEN EKSTERNAL (PENGGUNA LAYANAN)",
           "vendor": "DATA PESERTA PENGADAAN BARANG DAN JASA",
           "expert": "DATA RESPONDEN EKSPER (AHLI/PAKAR)"}
SHEET_NAMES = {"internal": "Internal", "external": "Eksternal", "vendor": "PBJ", "expert": "Eksper"}


def generate_records(
    *, seed: int, n_internal: int, n_external: int, n_vendor: int | None = None,
    n_expert: int | None = None, messy: bool = True, reference_date: date | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], ExpectedCounts]:
    """The rows of each form (values already formatted as written in the file) and the counts."""
    ref = reference_date or utcnow().date()
    g = _Gen(seed, ref, messy)
    units = [u for u in g.data["units"] if not u.get("excluded")]
    excluded = [u for u in g.data["units"] if u.get("excluded")]
    n = {"internal": n_internal, "external": n_external,
         "vendor": max(3, n_external // 25) if n_vendor is None else n_vendor,
         "expert": 15 if n_expert is None else n_expert}
    expected = ExpectedCounts(ref, {f: {"rows": 0, "eligible": 0, "eligible_non_asn": 0, "duplicates": 0,
                                        "excluded": {}, "unusable": {}} for f in FORMS})
    out: dict[str, list[dict[str, Any]]] = {f: [] for f in FORMS}
    employee_phones: list[str] = []
    employee_seen: set[str] = set()
    for form in FORMS:
        plain: list[dict[str, Any]] = []  # eligible rows no duplicate/sharer points at yet
        for _ in range(n[form]):
            verdict = _pick(g.rng, _MIX[form]) if messy else "eligible"
            if verdict in ("duplicate", "shared") and not plain:
                verdict = "eligible"
            if verdict == "is_employee" and not employee_phones:
                verdict = "eligible"
            if verdict == "duplicate":
                rec = dict(plain.pop(g.rng.randrange(len(plain))))
                rec["name"] = rec["name"].upper() if g.rng.random() < 0.5 else f" {rec['name']} "
                rec["unit"] = f"{rec['unit']} " if rec["unit"] else rec["unit"]
            else:
                rec = _base(g, form, units, excluded, verdict)
                _apply(g, form, rec, verdict)
                if verdict == "shared":
                    other = plain.pop(g.rng.randrange(len(plain)))
                    while rec["name"].lower() == other["name"].strip().lower():
                        rec["name"] = g.name()
                    rec["phone"], rec["email"] = other["phone"] or g.phone(), None
                    other["_shared"] = True
                    if not other["phone"]:  # the original had no phone: share its email instead
                        rec["phone"], rec["email"] = None, other["email"]
                    expected.shared_contact_people += 1 + (not other.get("_counted"))
                    other["_counted"] = rec["_counted"] = True
                    verdict = "eligible"
                elif verdict == "is_employee":
                    rec["phone"] = employee_phones.pop(g.rng.randrange(len(employee_phones)))
                    rec["email"] = None
                elif verdict == "no_valid_contact":
                    while (rec["unit"], rec["name"].lower()) in g.no_contact_names:
                        rec["name"] = g.name()
                    g.no_contact_names.add((rec["unit"], rec["name"].lower()))
                if verdict in ("eligible", "eligible_non_asn") and not rec.get("_counted"):
                    plain.append(rec)
                phone = rec["phone"]
                if form == "internal" and phone and phone.isdigit() and phone[0] == "8" \
                        and phone not in employee_seen:
                    employee_phones.append(phone)  # each valid internal number used at most once
                    employee_seen.add(phone)
            if rec["unit"].strip():
                expected.units.add(" ".join(rec["unit"].split()).lower())
            rec["_verdict"] = verdict
            out[form].append(rec)
    _narrow_busy(out["external"], ref)
    for form in FORMS:
        for rec in out[form]:
            expected.add(form, rec["_verdict"])
    return out, expected


def _narrow_busy(rows: list[dict[str, Any]], ref: date) -> None:
    """Mirror of the busy-unit rule: > 300 users a month, only the last 3 calendar months."""
    ref_month = ref.year * 12 + ref.month - 1
    per_unit: dict[str, list[dict[str, Any]]] = {}
    for rec in rows:
        if rec["_verdict"] == "eligible":
            per_unit.setdefault(" ".join(rec["unit"].split()).lower(), []).append(rec)
    for recs in per_unit.values():
        first = min(r["sdate"].year * 12 + r["sdate"].month - 1 for r in recs)
        average = len(recs) / max(1, ref_month - first + 1)
        months = 1 if average > 1000 else 3 if average > 300 else 0
        if months:
            start_month = ref_month - months + 1
            start = date(start_month // 12, start_month % 12 + 1, 1)
            for r in recs:
                if r["sdate"] < start:
                    r["_verdict"] = "outside_service_window"


def _cells(g: _Gen, form: str, rec: dict[str, Any], columns: list[tuple[str, str]], number: int) -> list[Any]:
    values = {
        "no": number, "nip": f"19{g.rng.randrange(10**15, 10**16)}", "unit": g.fmt_text(rec["unit"]),
        "name": g.fmt_text(rec["name"]) if rec["name"] not in ("", "-") else rec["name"],
        "phone": (g.fmt_phone(rec["phone"]) if rec["phone"] and rec["phone"][0] == "8" and rec["phone"].isdigit()
                  else rec["phone"]),
        "email": g.fmt_email(rec["email"]) if rec["email"] and "@" in rec["email"][1:-1] else rec["email"],
        "position": rec.get("position"), "note": rec.get("note"), "service": rec.get("service"),
        "org": rec.get("org"), "criterion": rec.get("criterion"),
        "start": g.fmt_date(rec["start"]) if isinstance(rec.get("start"), date) else rec.get("start"),
        "sdate": g.fmt_date(rec["sdate"]) if isinstance(rec.get("sdate"), date) else rec.get("sdate"),
    }
    return [values[key] for key, _ in columns]


def write_population_workbook(
    path: Path, *, seed: int, n_internal: int, n_external: int, messy: bool = True,
    n_vendor: int | None = None, n_expert: int | None = None, reference_date: date | None = None,
) -> ExpectedCounts:
    """Write an .xlsx with one sheet per form (plus an empty sheet) and return the counts."""
    # here, not at the top: openpyxl adds 50-120 ms to `spibot --help`, which imports this module
    # through app.demo (measured 2026-12-07)
    from openpyxl import Workbook

    records, expected = generate_records(seed=seed, n_internal=n_internal, n_external=n_external,
                                         n_vendor=n_vendor, n_expert=n_expert, messy=messy,
                                         reference_date=reference_date)
    g = _Gen(seed + 1, expected.reference_date, messy)
    workbook = Workbook(write_only=True)
    for form in FORMS:
        sheet = workbook.create_sheet(SHEET_NAMES[form])
        columns = g.rng.choice(_HEADERS[form]) if messy else _HEADERS[form][0]
        if messy:
            sheet.append([_TITLES[form]])
            sheet.append(["SURVEI PENILAIAN INTEGRITAS (SPI)"])
            sheet.append(["Instansi: Pemerintah Kabupaten Contoh"])
            sheet.append([])
        sheet.append([header for _, header in columns])
        if messy:
            sheet.append([f"({i})" for i in range(1, len(columns) + 1)])
        for number, rec in enumerate(records[form], start=1):
            if messy and g.rng.random() < 0.02:
                sheet.append([])
            sheet.append(_cells(g, form, rec, columns, number))
        if messy:
            sheet.append(["dst"] + ["..."] * (len(columns) - 1))
            for row in footer_rows(len(columns), len(records[form])):
                sheet.append(row)
    if messy:
        workbook.create_sheet("Sheet1")
    workbook.save(path)
    return expected


def write_population_csv(
    path: Path, *, seed: int, n_rows: int, form: str = "internal", messy: bool = True,
    reference_date: date | None = None,
) -> ExpectedCounts:
    """One form as a CSV (";"-separated, as Excel writes it in Indonesia), streamed row by row
    for large files. Returns the expected counts of that form."""
    kwargs = {"n_internal": 0, "n_external": 0, "n_vendor": 0, "n_expert": 0}
    kwargs["n_" + form] = n_rows
    records, expected = generate_records(seed=seed, messy=messy, reference_date=reference_date, **kwargs)
    g = _Gen(seed + 1, expected.reference_date, messy)
    columns = _HEADERS[form][0]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow([header for _, header in columns])
        for number, rec in enumerate(records[form], start=1):
            cells = _cells(g, form, rec, columns, number)
            writer.writerow([c.strftime("%d/%m/%Y") if isinstance(c, datetime) else c for c in cells])
        if messy:
            writer.writerows([[c if c is not None else "" for c in row]
                              for row in footer_rows(len(columns), n_rows)])
    return expected


def footer_rows(width: int, count: int) -> list[list[Any]]:
    """The lines KPK forms carry under the table: a totals row, the place and date, the
    signature blocks of the head and of whoever made the list, a note. None of it is data."""
    def at(*cells: tuple[int, Any]) -> list[Any]:
        row: list[Any] = [None] * width
        for index, value in cells:
            row[min(index, width - 1)] = value
        return row

    right = width - 2
    return [
        at((0, "Jumlah"), (right, count)),
        [],
        at((right, "Kasongan, 12 Maret 2024")),
        at((1, "Mengetahui,"), (right, "Yang membuat daftar,")),
        at((1, "Kepala Dinas Pendidikan"), (right, "Pengelola Data Kepegawaian")),
        [],
        [],
        at((1, "Drs. H. Ahmad Yani, M.Si"), (right, "Siti Rahma, S.Kom")),
        at((1, "NIP. 19700101 199003 1 001"), (right, "NIP. 19880312 201001 2 004")),
        [],
        at((0, "Catatan: data per 31 Mei 2024, nomor HP wajib diisi.")),
    ]

