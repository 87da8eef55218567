"""Importing responses collected elsewhere: CSV/XLSX files with a token column, and a JSON webhook.

Idempotent by submission id: the same id with the same body is accepted once (a resend stores
nothing new); the same id with a different body is refused (HTTP 409). A file is all-or-nothing:
every row is checked, and if any row is wrong nothing is stored and every problem is reported
with its row number.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from python_calamine import CalamineWorkbook
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core import audit
from core.assignments import find_by_token
from core.config import get_settings
from core.db import session_scope
from core.errors import SpibotError
from responses.models import Response
from responses.service import AlreadySubmitted, InvalidAnswers, SubmissionConflict, submit_answers

TOKEN_HEADERS = ("token", "kode", "token_survei")
ID_HEADERS = ("submission_id", "id_kiriman")
IGNORED_HEADERS = {"no", "nomor", "nama", "timestamp", "waktu", "submitted_at", "catatan"}
MAX_WEBHOOK_BYTES = 256 * 1024


class ImportFailed(SpibotError):
    def __init__(self, errors: list[tuple[int, str]]) -> None:
        lines = "\n".join(f"  baris {row}: {msg}" for row, msg in errors[:50])
        super().__init__(f"{len(errors)} baris bermasalah; tidak ada data yang disimpan.\n{lines}")
        self.errors = errors


@dataclass
class ImportResult:
    stored: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    # (row, question ids): answers of a part the respondent was not to be shown, dropped
    dropped: list[tuple[int, list[str]]] = field(default_factory=list)

    def notes(self) -> list[str]:
        """The import report's notes, one per row whose answers were dropped."""
        return [f"baris {row}: jawaban bagian lanjutan diabaikan karena semua jawaban pengalaman "
                f"\"tidak pernah\" ({', '.join(ids)})" for row, ids in self.dropped]


def _read_rows(path: Path) -> list[list[Any]]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls", ".xlsm", ".ods"):
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
        return [list(r) for r in sheet.to_python()]
    if suffix in (".csv", ".txt"):
        text = path.read_text(encoding="utf-8-sig")
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
        return [list(r) for r in csv.reader(text.splitlines(), dialect)]
    raise ImportFailed([(0, f"format berkas {suffix!r} tidak didukung: gunakan .csv atau .xlsx")])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header_index(rows: list[list[Any]]) -> int:
    for i, row in enumerate(rows[:20]):
        if any(_cell(c).lower() in TOKEN_HEADERS for c in row):
            return i
    raise ImportFailed([(0, "kolom 'token' tidak ditemukan di 20 baris pertama")])


def import_rows(session: Session, rows: list[list[Any]], *, source: str = "import") -> ImportResult:
    """Import parsed rows (header row first somewhere in the top 20). Raises ImportFailed."""
    start = _header_index(rows)
    header = [_cell(c).lower() for c in rows[start]]
    tok_col = next(i for i, h in enumerate(header) if h in TOKEN_HEADERS)
    id_col = next((i for i, h in enumerate(header) if h in ID_HEADERS), None)
    result = ImportResult()
    for offset, row in enumerate(rows[start + 1:], start=start + 2):
        cells = [_cell(c) for c in row] + [""] * (len(header) - len(row))
        if not any(cells):
            continue
        token = cells[tok_col]
        answers = {h: v for h, v in zip(header, cells, strict=False)
                   if h and v and h not in IGNORED_HEADERS and h not in TOKEN_HEADERS and h not in ID_HEADERS}
        sid = cells[id_col] if id_col is not None and cells[id_col] else None
        if sid is None:
            digest = hashlib.sha256(json.dumps([token, answers], sort_keys=True).encode()).hexdigest()
            sid = f"row:{digest[:40]}"
        dropped: list[str] = []
        stored, error = _one(session, token, answers, sid, source, dropped)
        if dropped and not error:
            result.dropped.append((offset, dropped))
        if error:
            result.errors.append((offset, error))
        elif stored:
            result.stored += 1
        else:
            result.duplicates += 1
    if result.errors:
        raise ImportFailed(result.errors)
    return result


def _one(session: Session, token: str, answers: dict[str, Any], sid: str, source: str,
         dropped: list[str] | None = None) -> tuple[bool, str | None]:
    """(stored_new, error message); the ids of answers dropped as moot are added to `dropped`."""
    assignment = find_by_token(session, token)
    if assignment is None:
        return False, "token tidak dikenal"
    new = _new_submission(session, sid)
    try:
        submit_answers(session, assignment, answers, source=source, submission_id=sid, dropped=dropped)
    except AlreadySubmitted:
        return False, "tautan ini sudah memiliki jawaban terkirim (satu jawaban per token)"
    except SubmissionConflict:
        return False, f"submission_id {sid!r} sudah diterima dengan isi berbeda"
    except InvalidAnswers as exc:
        return False, str(exc)
    return new, None


def import_file(path: str | Path, *, actor: str, url: str | None = None) -> ImportResult:
    """Import one CSV/XLSX file in one transaction (all rows or none)."""
    rows = _read_rows(Path(path))
    with session_scope(write=True, url=url) as session:
        result = import_rows(session, rows)
        audit.record(session, actor, "responses.import", target=Path(path).name,
                     details={"stored": result.stored, "duplicates": result.duplicates,
                              "dropped": [[row, ids] for row, ids in result.dropped]})
    return result


def _authorised(request: Request) -> bool:
    secret = get_settings().responses_webhook_secret
    if not secret:
        return False
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {secret}".encode())


async def handle_webhook(request: Request) -> tuple[int, dict[str, Any]]:
    """One submission as JSON. Returns (HTTP status, JSON body)."""
    if not get_settings().responses_webhook_secret:
        return 404, {"error": "webhook disabled: set RESPONSES_WEBHOOK_SECRET"}
    if not _authorised(request):
        return 401, {"error": "missing or wrong Authorization: Bearer <secret>"}
    raw = await request.body()
    if len(raw) > MAX_WEBHOOK_BYTES:
        return 413, {"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}
    try:
        body = json.loads(raw)
    except ValueError:
        return 400, {"error": "body is not valid JSON"}
    if not isinstance(body, dict):
        return 400, {"error": "body must be a JSON object"}
    sid, token, answers = body.get("submission_id"), body.get("token"), body.get("answers")
    if not isinstance(sid, str) or not sid.strip() or len(sid) > 120:
        return 422, {"error": "submission_id: a non-empty string of at most 120 characters is required"}
    if not isinstance(token, str) or not isinstance(answers, dict):
        return 422, {"error": "token (string) and answers (object) are required"}
    try:
        with session_scope(write=True) as session:
            assignment = find_by_token(session, token)
            if assignment is None:
                return 404, {"error": "unknown token"}
            new = _new_submission(session, sid)
            dropped: list[str] = []
            response = submit_answers(session, assignment, answers, source="webhook", submission_id=sid,
                                      dropped=dropped)
            rid = response.id
    except SubmissionConflict:
        return 409, {"error": "submission_id already received with a different body"}
    except AlreadySubmitted:
        return 409, {"error": "this token already has a submitted response"}
    except InvalidAnswers as exc:
        return 422, {"error": "invalid answers", "fields": exc.errors}
    except IntegrityError:  # a concurrent resend won the race; the client may retry
        return 409, {"error": "concurrent submission; retry"}
    reply: dict[str, Any] = {"status": "stored" if new else "duplicate", "response_id": rid}
    if dropped:  # answers of a follow-up part the other answers make moot: not stored
        reply["dropped"] = dropped
    return (201 if new else 200), reply


def _new_submission(session: Session, sid: str) -> bool:
    return session.exec(select(Response.id).where(Response.submission_id == sid)).first() is None
