"""The upload of population files, shared by the PIC's "Kumpulkan data" page (`monitor.data_routes`)
and a unit's own upload link (`monitor.unit_link_routes`).

Two steps, each a plain form POST:

1. `receive`: the files are checked (type, size, content) and stored server-side under a folder
   of `root` with a random id, then read as the importer reads them (`population.preview`);
   nothing is written to the database. A `check` may refuse the preview (a unit's link: only
   that unit's rows).
2. `save`: the stored files of that preview are imported (`population.importer`, all or
   nothing). The result is kept beside the files, so saving again shows the same result and
   imports nothing; two saves at the same moment queue on a lock (a file lock on this host, the
   institution's row on PostgreSQL, SQLite's write lock), and the importer skips files whose
   content it holds already, so nothing is ever doubled.

The id is random and only looked up under the caller's own `root` (an institution's folder, or
one unit link's): anything else is "not found". Previews older than PREVIEW_HOURS are removed.
"""

from __future__ import annotations

import fcntl
import json
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, select
from starlette.datastructures import FormData, UploadFile

from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope
from core.labels import label
from core.models import Institution
from population import import_files, preview_files, reason_texts

MAX_FILE_MB = 20
MAX_FILE_BYTES = MAX_FILE_MB * 1024 * 1024
MAX_FILES = 30
MAX_TOTAL_MB = 100
MAX_BODY_BYTES = MAX_TOTAL_MB * 1024 * 1024 + 1024 * 1024  # the files and the form's few fields
PREVIEW_HOURS = 24
SUFFIXES = (".xlsx", ".csv")
ZIP_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive
TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")
SIZE_RULE = (f"paling banyak {MAX_FILES} berkas sekaligus, masing-masing paling besar {MAX_FILE_MB} MB, "
             f"seluruhnya paling besar {MAX_TOTAL_MB} MB")
NOT_FOUND = "Pratinjau tidak ditemukan atau sudah kedaluwarsa. Silakan unggah ulang berkasnya."


class UploadRefused(Exception):  # noqa: N818 - a refusal with its message for the page
    """An upload refused before any reading: the message says which file and why."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


# --- the server-side store of previews -------------------------------------------------------------


def institution_root(institution_id: int) -> Path:
    """The previews of the PIC's page for one institution."""
    return get_settings().data_dir / "uploads" / f"inst-{institution_id}"


def link_root(link_id: int) -> Path:
    """The previews made through one unit's upload link (never visible to another link)."""
    return get_settings().data_dir / "uploads" / f"unit-link-{link_id}"


def preview_dir(root: Path, token: str | None) -> Path | None:
    """The stored preview `token` under `root`, or None (a bad or unknown id, another root's, or
    expired)."""
    if not token or not TOKEN.match(token):
        return None
    folder = root / token
    return folder if (folder / "preview.json").is_file() else None


def sweep(root: Path) -> None:
    """Remove the previews under `root` older than PREVIEW_HOURS."""
    if not root.is_dir():
        return
    limit = time.time() - PREVIEW_HOURS * 3600
    for folder in root.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on one preview (two "Simpan" at once: the second waits, then finds the
    first one's result)."""
    with (folder / "lock").open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def safe_name(raw: str | None) -> str:
    """A file name to store and show: the browser's name is never trusted (no directories, only
    letters, digits, spaces and . _ - ( ), at most 100 characters; the suffix is kept)."""
    name = unicodedata.normalize("NFKC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w .()-]", "_", name, flags=re.ASCII)
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = suffix[:10]
    stem = stem[: 100 - len(suffix) - 1].strip(" .") or "berkas"
    return f"{stem}.{suffix}" if suffix else stem


async def store(files: list[UploadFile], folder: Path) -> list[dict[str, Any]]:
    """Copy each upload into its own sub-folder of `folder`, checking type and size as it goes.
    Raises UploadRefused naming the file."""
    stored = []
    for index, upload in enumerate(files):
        name = safe_name(upload.filename)
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            raise UploadRefused(f"Berkas «{name}»: jenis berkas tidak didukung. Kirim berkas .xlsx "
                                "(Excel Workbook) atau .csv; berkas .xls lama dapat disimpan ulang sebagai .xlsx "
                                "dari Excel.")
        target = folder / f"f{index}" / name
        target.parent.mkdir(parents=True)
        size = 0
        with target.open("wb") as out:
            while block := await upload.read(1 << 20):
                size += len(block)
                if size > MAX_FILE_BYTES:
                    raise UploadRefused(f"Berkas «{name}» lebih besar dari {MAX_FILE_MB} MB. Pisahkan datanya "
                                        "menjadi beberapa berkas (misalnya satu berkas per unit kerja).", 413)
                out.write(block)
        if size == 0:
            raise UploadRefused(f"Berkas «{name}» kosong. Pilih berkas yang berisi data populasi.")
        with target.open("rb") as f:
            head = f.read(65536)
        if suffix == ".xlsx" and not head.startswith(ZIP_MAGIC):
            raise UploadRefused(f"Berkas «{name}» bukan berkas Excel .xlsx yang sah. Buka di Excel lalu "
                                "simpan ulang sebagai .xlsx (Excel Workbook).")
        if suffix == ".csv" and b"\x00" in head:
            raise UploadRefused(f"Berkas «{name}» bukan berkas teks CSV. Simpan ulang dari Excel sebagai "
                                "CSV, atau kirim berkas .xlsx.")
        stored.append({"name": name, "path": f"f{index}/{name}", "size": size})
    return stored


def body_limit(request: Request) -> None:
    """Refuse an upload that is too big before its body is read (a dependency: runs before the
    CSRF check reads the form)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "Unggahan tanpa panjang isi tidak diterima. Coba lagi dari halaman unggah.")
    if int(length) > MAX_BODY_BYTES:
        raise HTTPException(413, f"Unggahan terlalu besar: {SIZE_RULE}.")


def make_preview(folder: Path, stored: list[dict[str, Any]], institution_id: int, campaign_id: int,
                 login: str, reference: date) -> None:
    """Read the stored files as the importer would (nothing written) and keep the preview beside
    them. The same content twice in one upload is kept once. Raises IntakeError."""
    with session_scope() as session:
        previews = preview_files(session, [folder / s["path"] for s in stored], institution_id)
    seen: dict[str, str] = {}
    kept, skipped = [], []
    for s, p in zip(stored, previews, strict=True):
        if p.sha256 in seen:
            skipped.append(f"«{s['name']}» sama isinya dengan «{seen[p.sha256]}»")
            shutil.rmtree(folder / Path(s["path"]).parent)
            continue
        seen[p.sha256] = s["name"]
        kept.append(({**s, "sha256": p.sha256}, p))
    meta = {"institution_id": institution_id, "campaign_id": campaign_id, "user": login,
            "created_at": utcnow().isoformat(), "reference_date": reference.isoformat(),
            "files": [s for s, _ in kept], "preview": [p.as_dict() for _, p in kept], "skipped": skipped}
    (folder / "preview.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def lock_institution(session: Session, institution_id: int) -> None:
    """Imports of one institution one at a time (PostgreSQL: its row, FOR UPDATE; SQLite's write
    transaction is exclusive already)."""
    session.exec(select(Institution.id).where(Institution.id == institution_id).with_for_update()).first()


# --- the two steps ----------------------------------------------------------------------------------


Check = Callable[[dict[str, Any]], None]  # raises UploadRefused to refuse a preview


async def receive(form: FormData, root: Path, *, institution_id: int, campaign_id: int, login: str,
                  today: date, default_reference: date, check: Check | None = None) -> Path:
    """Step 1: store the form's files (field `berkas`) in a new folder under `root` and preview
    them; returns the folder (its name is the preview id). Raises UploadRefused or IntakeError,
    leaving nothing behind."""
    files = [f for f in form.getlist("berkas") if isinstance(f, UploadFile) and f.filename]
    raw_date = form.get("tanggal_acuan")
    folder = root / secrets.token_urlsafe(16)
    try:
        if not files:
            raise UploadRefused("Pilih minimal satu berkas .xlsx atau .csv.")
        if len(files) > MAX_FILES:
            raise UploadRefused(f"Terlalu banyak berkas: {SIZE_RULE}. Unggah sisanya sesudah yang ini disimpan.")
        reference = default_reference
        if isinstance(raw_date, str) and raw_date.strip():
            try:
                reference = date.fromisoformat(raw_date.strip())
            except ValueError as exc:
                raise UploadRefused("Tanggal acuan tidak valid; tulis seperti 2026-06-30.") from exc
            if reference > today:
                raise UploadRefused("Tanggal acuan tidak boleh sesudah hari ini.")
        sweep(root)
        folder.mkdir(parents=True)
        stored = await store(files, folder)
        await run_in_threadpool(make_preview, folder, stored, institution_id, campaign_id, login, reference)
        if check is not None:
            meta = read_json(folder / "preview.json")
            assert meta is not None
            check(meta)
    except BaseException:  # a refusal or anything else: nothing of this upload stays behind
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def save(folder: Path, *, campaign_id: int, actor: str, institution: Callable[[Session], Institution],
         check: Check | None = None) -> tuple[dict[str, Any], bool]:
    """Step 2: import the preview in `folder` (all or nothing). Returns (result, saved_before):
    a preview saved before returns its stored result and imports nothing. `institution` loads
    (and scope-checks) the institution inside the write transaction. Raises IntakeError (rolled
    back, nothing written) or UploadRefused (the check)."""
    with locked(folder):
        if (folder / "result.json").is_file():
            done = read_json(folder / "result.json")
            assert done is not None
            return done, True
        meta = read_json(folder / "preview.json")
        assert meta is not None
        if check is not None:
            check(meta)
        paths = [folder / f["path"] for f in meta["files"]]
        with session_scope(write=True) as session:
            inst = institution(session)
            assert inst.id is not None
            lock_institution(session, inst.id)
            report = import_files(session, paths, inst, date.fromisoformat(meta["reference_date"]), actor=actor)
        result = {"saved_at": utcnow().isoformat(), "user": actor, "batch_id": report.batch_id,
                  "summary": report.summary(), "sheets": report.sheets, "units_created": report.units_created,
                  "unchanged": [entry.split(" sha256:")[0] for entry in report.unchanged],
                  "changes": [c.describe() for c in report.changes], "campaign_id": campaign_id}
        (folder / "result.json").write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        for path in paths:  # the files are in the database now; the result stays for the page
            shutil.rmtree(path.parent, ignore_errors=True)
    return result, False


def discard(folder: Path | None) -> None:
    """Drop a preview that was not saved (a saved one keeps its result)."""
    if folder is not None and not (folder / "result.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)


# --- what the templates show ------------------------------------------------------------------------


def reasons(counts: dict[str, int]) -> list[tuple[str, int]]:
    texts = reason_texts()
    return [(texts.get(code, code), n) for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def preview_view(meta: dict[str, Any]) -> dict[str, Any]:
    """The stored preview as the template shows it (labels, reasons in words)."""
    files = []
    for f in meta["preview"]:
        sheets = [{**s, "form_label": label("form", s["form"]), "reasons": reasons(s["unusable"])}
                  for s in f["sheets"]]
        files.append({**f, "sheets": sheets})
    return {**meta, "files": files, "reference": date.fromisoformat(meta["reference_date"]),
            "all_before": all(f["imported_before"] for f in files)}


def result_view(result: dict[str, Any]) -> dict[str, Any]:
    forms = []
    for form, c in result["summary"].items():
        if not c["rows"]:
            continue
        written = c["rows"] - c["duplicates"]
        unusable = sum(c["unusable"].values())
        forms.append({"label": label("form", form), "rows": c["rows"], "duplicates": c["duplicates"],
                      "eligible": c["eligible"], "excluded": sum(c["excluded"].values()), "unusable": unusable,
                      "clean_pct": round(100.0 * (written - unusable) / written, 1) if written else None,
                      "reasons": reasons(c["unusable"]), "exclusions": reasons(c["excluded"])})
    sheets = [{**s, "form_label": label("form", s["form"])} for s in result["sheets"]]
    return {**result, "forms": forms, "sheets": sheets,
            "saved": datetime.fromisoformat(result["saved_at"])}
