"""HTTP routes of responses: the questionnaire behind the "ISI SURVEI" link and the import webhook.

The form works without JavaScript: every page is a plain POST that saves the page and redirects
(303) to the next one, so a respondent can leave and come back through the same link. The report
pages are *not* mounted here: `reports` exposes builders the monitor mounts behind its
login.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from core.clock import utcnow
from core.config import get_settings
from core.db import get_session
from core.templating import get_env
from core.tokens import hash_token
from responses import page as link_page
from responses import writer as answer_writer
from responses.importer import handle_webhook
from responses.models import ResponseStatus
from responses.questionnaire import (
    load_questionnaire,
)
from responses.service import MAX_TOKEN_LENGTH

router = APIRouter()
DbSession = Annotated[Session, Depends(get_session)]
templates = Jinja2Templates(env=get_env())

MAX_FORM_FIELDS = 200


def _message(request: Request, heading: str, lines: list[str], status: int, year: int | str = "") -> HTMLResponse:
    return templates.TemplateResponse(
        request, "responses/message.html",
        {"heading": heading, "lines": lines, "year": year}, status_code=status,
    )


def _not_found(request: Request) -> HTMLResponse:
    return _message(request, "Tautan tidak ditemukan", [
        "Maaf, tautan survei ini tidak dapat kami temukan.",
        "Mohon buka kembali tautan dari pesan WhatsApp atau email SPI Anda, atau kirim pesan "
        "\"Isi Survei\" ke nomor WhatsApp SPI untuk mendapatkan tautan Anda lagi.",
    ], 404)


def _thanks(request: Request, year: int, status: int = 200, again: bool = False) -> HTMLResponse:
    lines = ["Jawaban Anda sudah kami terima. Terima kasih atas partisipasi Anda dalam SPI."]
    if again:
        lines = ["Jawaban Anda untuk tautan ini sudah kami terima sebelumnya.",
                 "Setiap tautan hanya dapat digunakan untuk satu kali pengiriman; jawaban kedua tidak disimpan."]
    return _message(request, "Terima kasih", lines, status, year)


def _sign(value: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"shown:{value}".encode(), hashlib.sha256).hexdigest()[:24]


def _shown_token() -> str:
    ts = str(int(utcnow().timestamp()))
    return f"{ts}.{_sign(ts)}"


def _shown_at(token: Any) -> datetime | None:
    """When the page was shown (signed hidden field), or None if absent or tampered with."""
    text = str(token or "")
    ts, _, sig = text.partition(".")
    if not ts.isdigit() or not hmac.compare_digest(sig, _sign(ts)):
        return None
    shown = datetime.fromtimestamp(int(ts), UTC)
    return shown if shown <= utcnow() else None


def _closed_message(request: Request, not_yet: bool, year: int) -> HTMLResponse:
    lines = (["Survei belum dibuka. Mohon buka kembali tautan ini setelah survei dimulai."] if not_yet else
             ["Mohon maaf, masa pengisian survei ini sudah berakhir. Terima kasih atas perhatian Anda."])
    return _message(request, "Survei tidak sedang dibuka", lines, 403 if not_yet else 410, year)


@router.get("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
async def form_page(request: Request, token: str, p: str | None = None) -> Response:
    """The respondent's page: one read by the link reader thread (responses.page), the page
    filled from its cached skeleton in the event loop."""
    if token == "contohtoken":  # noqa: S105 - the public sample token of the button submitted for review
        return _message(request, "Contoh tautan survei", [
            "Halaman ini adalah contoh tautan pada pesan undangan Survei Penilaian Integritas (SPI).",
            "Setiap responden menerima tautan pribadinya sendiri; tombol ISI SURVEI pada pesan Anda "
            "membuka kuesioner Anda. Halaman contoh ini tidak menyimpan jawaban apa pun.",
            "Terima kasih atas perhatian Anda.",
        ], 200)
    link = await link_page.reader.read(token)
    if link is None:
        return _not_found(request)
    if link.response_status == ResponseStatus.submitted:
        return _thanks(request, link.year)
    if not link.is_open():
        return _closed_message(request, link.not_yet_open(), link.year)
    q = load_questionnaire(link.survey_group, link.year)
    page_id = link_page.first_page(q, link.answers, p)
    return HTMLResponse(link_page.render_page(q, page_id, link, f"/s/{token}", _shown_token()))


@router.post("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
async def form_post(request: Request, token: str) -> Response:
    """One page of answers: parsed here, decided and written by the answer writer thread
    (responses.writer: a batch of waiting posts per transaction), answered here."""
    form = await request.form(max_fields=MAX_FORM_FIELDS)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return _not_found(request)
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    meta = {"ip": request.client.host if request.client else None,
            "user_agent": request.headers.get("user-agent")}
    post = answer_writer.Post(hash_token(token), data, _shown_at(data.get("t")),
                              answer_writer.meta_hashes(meta))
    outcome = await answer_writer.save(post)
    return _answer(request, token, outcome)


def _answer(request: Request, token: str, outcome: answer_writer.Outcome) -> Response:
    if outcome.kind == "not_found":
        return _not_found(request)
    if outcome.kind == "again":
        return _thanks(request, outcome.year, status=409, again=True)
    if outcome.kind == "closed":
        return _closed_message(request, outcome.not_yet, outcome.year)
    if outcome.kind == "invalid":
        assert outcome.q is not None and outcome.page is not None
        context = link_page.form_context(outcome.q, outcome.page, outcome.year, outcome.institution,
                                         outcome.unit, outcome.answers, outcome.errors, None,
                                         _shown_token(), f"/s/{token}")
        return templates.TemplateResponse(request, link_page.TEMPLATE, context, status_code=422)
    assert outcome.kind == "redirect", outcome.kind
    query = f"?p={outcome.page}" if outcome.page else ""
    return RedirectResponse(f"/s/{token}{query}", status_code=303)


@router.post("/api/responses/submissions", tags=["responses"])
async def submissions_webhook(request: Request) -> JSONResponse:
    """Responses collected elsewhere (CAPI tablets, another platform), one JSON object per call.

    Body: {"submission_id": "...", "token": "...", "answers": {...}}; header
    `Authorization: Bearer <RESPONSES_WEBHOOK_SECRET>`. 201 stored, 200 resend of the same body,
    409 same id with another body or link already answered, 422 invalid answers.
    """
    status, body = await handle_webhook(request)
    return JSONResponse(body, status_code=status)
