"""Kumpulkan data: the campaign's units, their population files (drag-and-drop upload with preview,
quality report, fix lists), the deadline; creating a campaign and (admin) an institution.

The upload is two steps, each a plain form POST (the page works without JavaScript;
`static/upload.js` adds drag and drop and a progress bar over the same routes); the steps
themselves live in `monitor.intake`, shared with the units' own upload links:

1. `…/data/unggah`: the files are checked (type, size, content) and stored server-side under
   `DATA_DIR/uploads/inst-<institution id>/<random id>/`, then read as the importer reads them
   (`population.preview`); nothing is written to the database. The page shows the preview.
2. `…/data/simpan`: the stored files of that preview are imported (`population.importer`, all or
   nothing). The result is kept beside the files, so pressing "Simpan" again shows the same
   result and imports nothing; two presses at the same moment queue on a lock (a file lock on
   this host, the institution's row on PostgreSQL, SQLite's write lock), and the importer skips
   files whose content it holds already, so nothing is ever doubled.

The id is random and only looked up under the user's own institution's directory: another
institution's id is "not found". Previews older than PREVIEW_HOURS are removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from core.audit import record
from core.clock import ZONES, as_utc, local, utcnow
from core.db import session_scope
from core.labels import label
from core.models import Campaign, Institution, Unit
from core.params import MAX_ROW_ID, RowId
from core.services import CoreError, add_institution, create_campaign
from monitor import intake, unit_links
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.pages import PAGES
from monitor.router import STATIC, XLSX, _campaign, _render
from monitor.tables import Table, to_xlsx
from population import (
    IntakeError,
    add_unit,
    default_reference_date,
    describe_error,
    quality_report,
    reason_texts,
    sample_drawn,
    unit_arrivals,
)

router = APIRouter(prefix="/pic", tags=["dashboard"])
Viewer = Annotated[CurrentUser, Depends(require_user(Role.viewer))]
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
Admin = Annotated[CurrentUser, Depends(require_user(Role.admin))]

KINDS = ("kabupaten", "kota", "provinsi", "kementerian", "lembaga")
# The upload itself (store, preview, save) is shared with the units' own links: monitor.intake.
MAX_FILE_MB, SIZE_RULE, TOKEN = intake.MAX_FILE_MB, intake.SIZE_RULE, intake.TOKEN
UploadRefused, safe_name = intake.UploadRefused, intake.safe_name
_uploads = intake.institution_root
_read_json, _preview_view, _result_view = intake.read_json, intake.preview_view, intake.result_view


def _preview_dir(institution_id: int, token: str | None) -> Path | None:
    return intake.preview_dir(intake.institution_root(institution_id), token)


SizeChecked = Annotated[None, Depends(intake.body_limit)]
UnitOrNone = Annotated[int, FastPath(ge=0, le=MAX_ROW_ID)]  # a unit's id; 0: the rows without a unit


# --- page data --------------------------------------------------------------------------------------


@dataclass
class UnitLine:
    unit_id: int | None
    name: str
    files: list[str]
    last_import: datetime | None
    rows: int
    clean_pct: float | None
    to_fix: int


def _units(session: Session, inst: Institution) -> list[UnitLine]:
    """Every unit of the institution (imported or added by hand) with what arrived from it."""
    assert inst.id is not None
    arrivals = unit_arrivals(session, inst.id)
    report = quality_report(session, inst.id)
    quality = {u.unit_code: u for u in report.units}
    units = list(session.exec(select(Unit).where(Unit.institution_id == inst.id).order_by(col(Unit.name))))
    lines = []
    for unit in units:
        arrival = arrivals.get(unit.id)
        q = quality.get(unit.code)
        lines.append(UnitLine(unit.id, unit.name, arrival.files if arrival else [],
                              arrival.last_import if arrival else None, q.rows if q else 0,
                              q.clean_pct if q and q.rows else None, sum(q.unusable.values()) if q else 0))
    loose, q = arrivals.get(None), quality.get("-")
    if loose is not None or (q is not None and q.rows):
        lines.append(UnitLine(None, "Tanpa unit kerja (misalnya eksper)", loose.files if loose else [],
                              loose.last_import if loose else None, q.rows if q else 0,
                              q.clean_pct if q and q.rows else None, sum(q.unusable.values()) if q else 0))
    return lines


def _local_date(value: datetime | None, tz: str) -> date:
    assert value is not None
    return local(value, tz).date()


def _data_page(request: Request, user: CurrentUser, campaign_id: int, *, preview: str | None = None,
               result: str | None = None, message: str | None = None, error: str | None = None,
               status: int = 200) -> HTMLResponse:
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)
        assert inst.id is not None and campaign.id is not None
        units = _units(session, inst)
        drawn = sample_drawn(session, campaign.id)
        links = unit_links.link_rows(session, campaign.id, inst.id)
    meta = _read_json(folder / "preview.json") if (folder := _preview_dir(inst.id, preview)) else None
    done = _read_json(folder / "result.json") if (folder := _preview_dir(inst.id, result)) else None
    if preview and meta is None and error is None:
        error = "Pratinjau tidak ditemukan atau sudah kedaluwarsa. Silakan unggah ulang berkasnya."
    arrived = [u for u in units if u.unit_id is not None and u.files]
    rows = sum(u.rows for u in units)
    clean = sum(round(u.rows * (u.clean_pct or 0) / 100) for u in units)
    response = _render(
        request, "data.html", user, campaign=campaign, institution=inst, page="data",
        title="Kumpulkan data", pages=PAGES, units=units, links=links, drawn=drawn, message=message, error=error,
        preview=_preview_view(meta) if meta else None, preview_id=preview if meta else "",
        result=_result_view(done) if done else None,
        opens=_local_date(campaign.opens_at, inst.timezone), closes=_local_date(campaign.closes_at, inst.timezone),
        today=local(utcnow(), inst.timezone).date(), size_rule=SIZE_RULE, max_file_mb=MAX_FILE_MB,
        counts={"units": sum(1 for u in units if u.unit_id is not None), "arrived": len(arrived),
                "rows": rows, "clean_pct": round(100.0 * clean / rows, 1) if rows else None,
                "to_fix": sum(u.to_fix for u in units)},
    )
    response.status_code = status
    return response


def _wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "XMLHttpRequest"


def _data_url(campaign_id: int, query: str = "") -> str:
    return f"/pic/c/{campaign_id}/data" + (f"?{query}" if query else "")


FLASH = {
    "kampanye": "Kampanye dibuat. Langkah pertama: kumpulkan data populasi dari unit kerja.",
    "batas": "Tanggal tutup survei diperbarui.",
    "unit": "Unit kerja ditambahkan.",
    "batal": "Pratinjau dibuang; tidak ada data yang disimpan.",
    "kontak": "Email unit kerja disimpan.",
    "tautan": "Tautan unggah unit kerja dibuat; tautan sebelumnya (bila ada) tidak berlaku lagi.",
    "cabut": "Tautan unggah unit kerja dicabut.",
}


# --- Kumpulkan data ----------------------------------------------------------------------------------


@router.get("/static/upload.js", include_in_schema=False)
def upload_js() -> Response:
    return Response((STATIC / "upload.js").read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=3600"})


@router.get("/c/{campaign_id}/data", response_class=HTMLResponse)
def data_page(request: Request, campaign_id: RowId, user: Viewer, pratinjau: str | None = None,
              hasil: str | None = None, ok: str | None = None) -> HTMLResponse:
    message = FLASH.get(ok or "")
    return _data_page(request, user, campaign_id, preview=pratinjau, result=hasil, message=message)


@router.post("/c/{campaign_id}/data/unggah", response_model=None)
async def upload(request: Request, campaign_id: RowId, _size: SizeChecked, user: Actor) -> Response:
    """Store the files and preview them (nothing reaches the database)."""
    with session_scope() as session:
        campaign, inst = _campaign(session, user, campaign_id)  # another institution's: 404
        assert inst.id is not None
        closes = _local_date(campaign.closes_at, inst.timezone)
    form = await request.form()  # parsed once (the CSRF check may have read it already); counted below
    today = local(utcnow(), inst.timezone).date()
    try:
        folder = await intake.receive(form, _uploads(inst.id), institution_id=inst.id, campaign_id=campaign_id,
                                      login=user.login, today=today,
                                      default_reference=default_reference_date(today, closes))
    except (UploadRefused, IntakeError) as exc:
        status = exc.status if isinstance(exc, UploadRefused) else 422
        text = describe_error(exc) if isinstance(exc, IntakeError) else str(exc)
        text += " Tidak ada data yang disimpan."
        if _wants_json(request):
            return JSONResponse({"error": text}, status_code=status)
        return _data_page(request, user, campaign_id, error=text, status=status)
    url = _data_url(campaign_id, f"pratinjau={folder.name}#pratinjau")
    if _wants_json(request):
        return JSONResponse({"redirect": url})
    return RedirectResponse(url, status_code=303)


@router.post("/c/{campaign_id}/data/simpan", response_model=None)
def save(request: Request, campaign_id: RowId, user: Actor,
         pratinjau: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Import the previewed files; the same preview saved again imports nothing."""
    with session_scope() as session:
        _, inst = _campaign(session, user, campaign_id)
        assert inst.id is not None
    folder = _preview_dir(inst.id, pratinjau)
    if folder is None:
        return _data_page(request, user, campaign_id, status=404, error=intake.NOT_FOUND)
    try:
        _, again = intake.save(folder, campaign_id=campaign_id, actor=user.login,
                               institution=lambda session: _campaign(session, user, campaign_id)[1])
    except IntakeError as exc:  # rolled back: nothing written
        return _data_page(request, user, campaign_id, preview=folder.name, status=422,
                          error=f"Impor dibatalkan, tidak ada data yang disimpan. {describe_error(exc)}")
    if again:  # saved before: show that result, import nothing
        return RedirectResponse(_data_url(campaign_id, f"hasil={folder.name}&ulang=1#hasil"), status_code=303)
    return RedirectResponse(_data_url(campaign_id, f"hasil={folder.name}#hasil"), status_code=303)


@router.post("/c/{campaign_id}/data/batal", response_model=None)
def discard(campaign_id: RowId, user: Actor, pratinjau: Annotated[str, Form(max_length=40)] = "") -> Response:
    with session_scope() as session:
        _, inst = _campaign(session, user, campaign_id)
        assert inst.id is not None
    intake.discard(_preview_dir(inst.id, pratinjau))
    return RedirectResponse(_data_url(campaign_id, "ok=batal"), status_code=303)


@router.post("/c/{campaign_id}/data/unit", response_model=None)
def unit_add(request: Request, campaign_id: RowId, user: Actor,
             nama: Annotated[str, Form(max_length=200)] = "") -> Response:
    """A unit expected to send its list, added by hand (before its file arrives)."""
    try:
        with session_scope(write=True) as session:
            _, inst = _campaign(session, user, campaign_id)
            unit = add_unit(session, inst.id, nama)  # type: ignore[arg-type]
            record(session, user.login, "unit.add", institution_id=inst.id,
                   target=f"unit:{unit.code}", details={"name": unit.name})
    except IntakeError as exc:
        return _data_page(request, user, campaign_id, error=str(exc), status=422)
    return RedirectResponse(_data_url(campaign_id, "ok=unit"), status_code=303)


@router.post("/c/{campaign_id}/data/batas", response_model=None)
def deadline(request: Request, campaign_id: RowId, user: Actor,
             tutup: Annotated[str, Form(max_length=20)] = "") -> Response:
    """Move the campaign's closing date (the deadline of the KPK letter), only before the draw."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)  # another institution's: 404 first
        assert campaign.id is not None
        error, closes = None, date.min
        try:
            closes = date.fromisoformat(tutup.strip())
        except ValueError:
            error = "Tanggal tutup tidak valid; pilih tanggal dari kalender."
        if error is not None:
            pass
        elif sample_drawn(session, campaign.id):
            error = "Sampel sudah ditarik: tanggal tutup tidak dapat diubah lagi di halaman ini."
        elif closes < _local_date(campaign.opens_at, inst.timezone):
            error = "Tanggal tutup harus sesudah tanggal buka."
        elif closes < local(utcnow(), inst.timezone).date():
            error = "Tanggal tutup tidak boleh sebelum hari ini."
        if error is None:
            before = campaign.closes_at
            campaign.closes_at = datetime.combine(closes, dtime(23, 59, 59), ZoneInfo(inst.timezone)).astimezone(
                ZoneInfo("UTC"))
            session.add(campaign)
            record(session, user.login, "campaign.deadline", institution_id=inst.id,
                   target=f"campaign:{campaign.id}",
                   details={"before": as_utc(before).isoformat() if before else None,
                            "after": campaign.closes_at.isoformat()})
    if error is not None:
        return _data_page(request, user, campaign_id, error=error, status=422 if closes == date.min else 409)
    return RedirectResponse(_data_url(campaign_id, "ok=batas"), status_code=303)


@router.get("/c/{campaign_id}/data/unit/{unit_id}/perbaikan.xlsx")
def fix_list(campaign_id: RowId, unit_id: UnitOrNone, user: Viewer) -> Response:
    """The rows one unit must fix (file, sheet, row, name, what to do), for the PIC to send it.
    `unit_id` 0: the rows without a unit (experts)."""
    with session_scope(write=True) as session:
        campaign, inst = _campaign(session, user, campaign_id)
        assert inst.id is not None
        if unit_id:
            unit = session.get(Unit, unit_id)
            if unit is None or unit.institution_id != inst.id:
                raise HTTPException(404, "Unit tidak ditemukan.")
            code, name = unit.code, unit.name
        else:
            code, name = "-", "tanpa unit kerja"
        report = quality_report(session, inst.id)
        texts = reason_texts()
        table = Table("perbaikan", f"Perbaikan {name}",
                      ["Berkas", "Sheet", "Baris", "Formulir", "Nama", "Masalah dan cara memperbaiki"])
        for p in report.problems.get(code, []):
            table.rows.append([p.source_file or "", p.source_sheet or "", p.source_row, label("form", p.group),
                               p.name, texts.get(p.reason, p.reason) if p.reason is not None else None])
        record(session, user.login, "monitor.export", institution_id=inst.id,
               target=f"campaign:{campaign.id}/data/unit:{code}/perbaikan.xlsx", details={"rows": len(table.rows)})
    filename = f"{inst.code}-perbaikan-{code if code != '-' else 'tanpa-unit'}.xlsx"
    return Response(to_xlsx(table), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{quote(filename)}"'})


# --- creating a campaign (PIC home) --------------------------------------------------------------------


def _home_again(request: Request, user: CurrentUser, error: str, values: dict[str, str]) -> HTMLResponse:
    with session_scope() as session:
        campaigns = list(session.exec(select(Campaign).where(Campaign.institution_id == user.institution_id)))
        inst = session.get(Institution, user.institution_id) if user.institution_id else None
    response = _render(request, "home.html", user, campaigns=campaigns, institution=inst, error=error,
                       form=values)
    response.status_code = 422
    return response


@router.post("/kampanye", response_model=None)
def campaign_add(
    request: Request, user: Actor,
    nama: Annotated[str, Form(max_length=200)] = "", tahun: Annotated[str, Form(max_length=8)] = "",
    buka: Annotated[str, Form(max_length=20)] = "", tutup: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Create the institution's campaign (the same service as `spibot campaign create`)."""
    values = {"nama": nama, "tahun": tahun, "buka": buka, "tutup": tutup}
    if user.institution_id is None:
        return _home_again(request, user, "Kampanye dibuat oleh PIC instansi. Masuk dengan akun PIC instansi.", values)
    try:
        opens, closes = date.fromisoformat(buka.strip()), date.fromisoformat(tutup.strip())
    except ValueError:
        return _home_again(request, user, "Isi tanggal buka dan tanggal tutup survei.", values)
    year = opens.year
    if tahun.strip():
        if not tahun.strip().isdigit() or not 2020 <= int(tahun.strip()) <= 2100:
            return _home_again(request, user, "Tahun survei tidak valid, misalnya 2026.", values)
        year = int(tahun.strip())
    name = " ".join(nama.split()) or f"SPI {year}"
    try:
        with session_scope(write=True) as session:
            inst = session.get(Institution, user.institution_id)
            assert inst is not None
            # one press or two: the same campaign (a double submit never makes a second one)
            same = session.exec(select(Campaign).where(Campaign.institution_id == inst.id, Campaign.year == year,
                                                       Campaign.name == name)).first()
            if same is not None:
                return RedirectResponse(_data_url(same.id), status_code=303)  # type: ignore[arg-type]
            if closes < local(utcnow(), inst.timezone).date():
                raise CoreError("Tanggal tutup sudah lewat; pilih tanggal tutup dari surat KPK.")
            campaign = create_campaign(session, inst, year=year, opens=opens, closes=closes, name=name)
            record(session, user.login, "campaign.create", institution_id=inst.id, target=str(campaign.id),
                   details={"name": name, "year": year, "opens": opens.isoformat(), "closes": closes.isoformat()})
    except CoreError as exc:
        return _home_again(request, user, str(exc), values)
    return RedirectResponse(_data_url(campaign.id, "ok=kampanye"), status_code=303)  # type: ignore[arg-type]


# --- institutions (admin) ------------------------------------------------------------------------------


def _institutions_page(request: Request, user: CurrentUser, *, message: str | None = None,
                       error: str | None = None, values: dict[str, str] | None = None,
                       status: int = 200) -> HTMLResponse:
    with session_scope() as session:
        institutions = list(session.exec(select(Institution).order_by(col(Institution.name))))
    response = _render(request, "instansi.html", user, institutions=institutions, message=message, error=error,
                       zones=ZONES, zone_names={tz: z for z, tz in ZONES.items()}, kinds=KINDS,
                       form=values or {})
    response.status_code = status
    return response


@router.get("/admin/instansi", response_class=HTMLResponse)
def institutions_page(request: Request, user: Admin, ok: str | None = None) -> HTMLResponse:
    message = None
    if ok:
        with session_scope() as session:
            made = session.exec(select(Institution).where(Institution.code == ok[:40])).first()
        if made is not None:
            message = f"Instansi {made.name} dibuat. Langkah berikutnya: buat akun PIC-nya di halaman Pengguna."
    return _institutions_page(request, user, message=message)


@router.post("/admin/instansi", response_model=None)
def institutions_add(
    request: Request, user: Admin,
    kode: Annotated[str, Form(max_length=40)] = "", nama: Annotated[str, Form(max_length=200)] = "",
    zona: Annotated[str, Form(max_length=8)] = "WIB", jenis: Annotated[str, Form(max_length=20)] = "kabupaten",
) -> Response:
    values = {"kode": kode, "nama": nama, "zona": zona, "jenis": jenis}
    code, name = kode.strip().upper(), " ".join(nama.split())
    error = None
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{1,39}", code):
        error = "Kode instansi 2-40 karakter: huruf, angka dan tanda hubung, misalnya KAB-KATINGAN."
    elif not name:
        error = "Nama instansi wajib diisi, misalnya Pemerintah Kabupaten Katingan."
    elif zona not in ZONES:
        error = "Pilih zona waktu WIB, WITA atau WIT."
    elif jenis not in KINDS:
        error = "Pilih jenis instansi."
    if error is None:
        try:
            with session_scope(write=True) as session:
                inst = add_institution(session, code, name, timezone=zona, kind=jenis)
                record(session, user.login, "institution.add", institution_id=inst.id, target=code,
                       details={"name": name, "timezone": inst.timezone, "kind": jenis})
        except CoreError as exc:
            error = str(exc)
    if error is not None:
        return _institutions_page(request, user, error=error, values=values, status=422)
    return RedirectResponse(f"/pic/admin/instansi?ok={quote(code)}", status_code=303)
