"""HTTP routes of responses: the questionnaire behind the "ISI SURVEI" link and the import webhook.

The form works without JavaScript: every page is a plain POST that saves the page and redirects
(303) to the next one, so a respondent can leave and come back through the same link. The report
pages are *not* mounted here: `responses.reports` exposes builders the monitor mounts behind its
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

from core.assignments import find_by_token
from core.clock import utcnow
from core.config import get_settings
from core.db import get_session, session_scope
from core.models import Assignment, AssignmentKind, Campaign, Institution, Unit
from core.templating import get_env
from responses import page as link_page
from responses.importer import handle_webhook
from responses.models import ResponseStatus
from responses.questionnaire import (
    CONFIRM_PAGE,
    Questionnaire,
    first_incomplete_page,
    load_questionnaire,
    validate_page,
)
from responses.service import (
    AlreadySubmitted,
    InvalidAnswers,
    questionnaire_for,
    response_of,
    save_page,
    submit_answers,
)

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


def _gate(request: Request, session: Session, token: str) -> tuple[Assignment, Campaign] | HTMLResponse:
    assignment = find_by_token(session, token)
    # An inactive participatory assignment is a second registration of a number that already has
    # one: it is served like any other (so the registration page reveals nothing about which
    # numbers are known) and its answers never count (see responses.service._new_response).
    if assignment is None or (not assignment.active and assignment.kind != AssignmentKind.participatory):
        return _not_found(request)
    campaign = session.get(Campaign, assignment.campaign_id)
    if campaign is None:
        return _not_found(request)
    return assignment, campaign


def _closed_message(request: Request, not_yet: bool, year: int) -> HTMLResponse:
    lines = (["Survei belum dibuka. Mohon buka kembali tautan ini setelah survei dimulai."] if not_yet else
             ["Mohon maaf, masa pengisian survei ini sudah berakhir. Terima kasih atas perhatian Anda."])
    return _message(request, "Survei tidak sedang dibuka", lines, 403 if not_yet else 410, year)


def _closed(request: Request, campaign: Campaign) -> HTMLResponse | None:
    if campaign.is_open():
        return None
    not_yet = campaign.opens_at is not None and campaign.status != "closed" and utcnow() < campaign.opens_at
    return _closed_message(request, not_yet, campaign.year)


def _render_form(
    request: Request, session: Session, token: str, assignment: Assignment, campaign: Campaign,
    q: Questionnaire, page_id: str, answers: dict[str, Any], errors: dict[str, str],
    notice: str | None = None, status: int = 200,
) -> HTMLResponse:
    """The form through the template (the POST's 422 page); the GET page is `responses.page`."""
    institution = session.get(Institution, campaign.institution_id)
    unit = session.get(Unit, assignment.unit_id) if assignment.unit_id else None
    context = link_page.form_context(q, page_id, campaign.year, institution.name if institution else "",
                                unit.name if unit else None, answers, errors, notice, _shown_token(),
                                f"/s/{token}")
    return templates.TemplateResponse(request, link_page.TEMPLATE, context, status_code=status)


@router.get("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
async def form_page(request: Request, token: str, p: str | None = None) -> Response:
    """The respondent's page: one read by the link reader thread (responses.page), the page
    filled from its cached skeleton in the event loop."""
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
    form = await request.form(max_fields=MAX_FORM_FIELDS)
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    meta = {"ip": request.client.host if request.client else None,
            "user_agent": request.headers.get("user-agent")}
    with session_scope(write=True) as session:
        return _handle_post(request, session, token, data, meta)


def _handle_post(request: Request, session: Session, token: str, data: dict[str, str],
                 meta: dict[str, Any]) -> Response:
    gate = _gate(request, session, token)
    if isinstance(gate, HTMLResponse):
        return gate
    assignment, campaign = gate
    response = response_of(session, assignment)
    if response is not None and response.status == ResponseStatus.submitted:
        return _thanks(request, campaign.year, status=409, again=True)
    closed = _closed(request, campaign)
    if closed is not None:
        return closed
    q = questionnaire_for(session, assignment)
    ids = q.page_ids()
    page_id = data.get("page", "")
    if page_id not in ids:
        return RedirectResponse(f"/s/{token}", status_code=303)
    answers = dict(response.answers) if response else {}
    nav = data.get("nav", "next")
    index = ids.index(page_id)
    if page_id == CONFIRM_PAGE:
        if nav == "back":
            return RedirectResponse(f"/s/{token}?p={ids[index - 1]}", status_code=303)
        missing = first_incomplete_page(q, answers)
        if missing:
            return RedirectResponse(f"/s/{token}?p={missing}", status_code=303)
        try:
            submit_answers(session, assignment, answers, source="web", meta=meta)
        except AlreadySubmitted:
            return _thanks(request, campaign.year, status=409, again=True)
        except InvalidAnswers as exc:
            first = next(iter(exc.errors))
            target = next((pg.id for pg in q.pages if any(x.id == first for x in pg.questions)), ids[0])
            return RedirectResponse(f"/s/{token}?p={target}", status_code=303)
        return RedirectResponse(f"/s/{token}", status_code=303)
    page = q.page(page_id)
    assert page is not None
    values, errors = validate_page(q, page, data, answers)
    if nav == "back":
        if values:
            save_page(session, assignment, page_id, values, shown_at=_shown_at(data.get("t")), meta=meta)
        return RedirectResponse(f"/s/{token}?p={ids[max(index - 1, 0)]}", status_code=303)
    if errors:
        merged = {**answers, **values}
        return _render_form(request, session, token, assignment, campaign, q, page_id, merged, errors,
                            status=422)
    save_page(session, assignment, page_id, values, shown_at=_shown_at(data.get("t")), meta=meta)
    return RedirectResponse(f"/s/{token}?p={ids[index + 1]}", status_code=303)


@router.post("/api/responses/submissions", tags=["responses"])
async def submissions_webhook(request: Request) -> JSONResponse:
    """Responses collected elsewhere (CAPI tablets, another platform), one JSON object per call.

    Body: {"submission_id": "...", "token": "...", "answers": {...}}; header
    `Authorization: Bearer <RESPONSES_WEBHOOK_SECRET>`. 201 stored, 200 resend of the same body,
    409 same id with another body or link already answered, 422 invalid answers.
    """
    status, body = await handle_webhook(request)
    return JSONResponse(body, status_code=status)


# --- reports: NOT mounted by `router`; the monitor includes this behind its login, e.g.
#     app.include_router(report_router, dependencies=[Depends(require_user())])
report_router = APIRouter()


@report_router.get("/laporan/{campaign_id}", response_class=HTMLResponse, tags=["reports"])
def report_page(campaign_id: int, session: DbSession, exclude_flagged: bool = False) -> Response:
    from responses.reports import build_report, render_html

    try:
        report = build_report(session, campaign_id, include_flagged=not exclude_flagged)
    except LookupError:
        return HTMLResponse("Laporan tidak ditemukan.", status_code=404)
    return HTMLResponse(render_html(report))


@report_router.get("/laporan/{campaign_id}/unduh.{fmt}", tags=["reports"])
def report_download(campaign_id: int, fmt: str, session: DbSession, exclude_flagged: bool = False) -> Response:
    import io

    from responses.reports import build_report, write_pdf, write_xlsx

    writers = {"pdf": (write_pdf, "application/pdf"),
               "xlsx": (write_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    if fmt not in writers:
        return HTMLResponse("Format tidak dikenal: gunakan .pdf atau .xlsx.", status_code=404)
    try:
        report = build_report(session, campaign_id, include_flagged=not exclude_flagged)
    except LookupError:
        return HTMLResponse("Laporan tidak ditemukan.", status_code=404)
    buf = io.BytesIO()
    writer, media = writers[fmt]
    writer(report, buf)
    name = f"laporan-spi-{report.year}-{campaign_id}.{fmt}"
    return Response(buf.getvalue(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
