"""HTTP routes of qr: posters, the short-link redirect, registration and the guest book.
Thin: every decision is in qr.service / qr.posters / qr.validation."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from core.clock import format_date_id, local
from core.config import get_settings
from core.db import get_session, session_scope, write_scope
from core.models import Campaign, Institution, Unit
from core.templating import get_env
from qr import cache, codes, posters, ratelimit, service, writer
from qr.layout import FORMATS
from qr.service import CampaignState
from qr.urls import GUESTBOOK, KINDS, REGISTRATION, target_url
from qr.validation import messages, parse_visitor

router = APIRouter(tags=["qr"])
templates = Jinja2Templates(env=get_env())
MEDIA = {"pdf": "application/pdf", "png": "image/png", "svg": "image/svg+xml"}
NO_STORE = {"Cache-Control": "no-store"}
SessionDep = Annotated[Session, Depends(get_session)]


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("call_centre", get_settings().call_centre)
    context.setdefault("institution", None)
    context.setdefault("year", None)
    return templates.TemplateResponse(request, name, context, status_code=status, headers=NO_STORE)


def _message(request: Request, key: str, status: int, heading: str = "Mohon maaf",
             **fmt: Any) -> HTMLResponse:
    text = str(messages()["pages"][key]).format(**fmt)
    return _page(request, "qr/message.html", status, heading=heading, message=text,
                 institution=fmt.get("institution"))


def _not_found(request: Request) -> HTMLResponse:
    return _message(request, "not_found", 404)


def _lookup(session: Session, inst_code: str, unit_code: str) -> tuple[Institution, Unit] | None:
    institution = service.find_institution(session, inst_code)
    if institution is None:
        return None
    unit = service.find_unit(session, institution, unit_code)
    return (institution, unit) if unit is not None else None


def _state_page(request: Request, institution: Institution,
                campaign: Campaign | None) -> HTMLResponse | None:
    """The page for a campaign that does not take registrations now, else None."""
    if not institution.registration_enabled:
        return _message(request, "disabled", 403, institution=institution)
    state = service.campaign_state(campaign)
    if state == CampaignState.none:
        return _message(request, "no_campaign", 404, institution=institution)
    assert campaign is not None and campaign.opens_at
    if state == CampaignState.not_open:
        opens_on = format_date_id(local(campaign.opens_at, institution.timezone))
        return _message(request, "not_open", 403, "Survei belum dibuka", institution=institution,
                        opens_on=opens_on)
    if state == CampaignState.closed:
        closes_on = format_date_id(service.closing_day(campaign, institution.timezone))
        return _message(request, "closed", 410, "Survei sudah ditutup", institution=institution,
                        closes_on=closes_on)
    return None


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- posters and short links ----------------------------------------------------------------


@router.get("/p/{code}", include_in_schema=False)
def short_link(code: str, request: Request, session: SessionDep) -> Response:
    url = posters.resolve_short_link(session, code)
    if url is None:
        return _not_found(request)
    return RedirectResponse(url, status_code=302)


def _poster_target(session: Session, inst_code: str, unit_code: str, loket: str | None,
                   jenis: str) -> tuple[Institution, Unit, str | None] | None:
    found = _lookup(session, inst_code, unit_code)
    if found is None or jenis not in KINDS:
        return None
    institution, unit = found
    if jenis == REGISTRATION and loket and loket not in (unit.counters or []):
        return None
    return institution, unit, (loket or None) if jenis == REGISTRATION else None


@router.get("/qr/{inst_code}/{unit_code}/poster.{ext}")
def poster(inst_code: str, unit_code: str, ext: str, request: Request, loket: str | None = None,
           format: str = "a4", jenis: str = REGISTRATION) -> Response:  # noqa: A002 - query name
    """One printable poster (PDF, PNG or SVG): A4 (`format=a4`), table tent, or sticker."""
    if ext not in MEDIA or format not in FORMATS:
        return _not_found(request)
    with session_scope(write=True) as session:  # may create the short link on first use
        target = _poster_target(session, inst_code, unit_code, loket, jenis)
        if target is None:
            return _not_found(request)
        institution, unit, counter = target
        campaign = service.current_campaign(session, institution.id)  # type: ignore[arg-type]
        if campaign is None:
            return _message(request, "no_campaign", 404, institution=institution)
        spec = posters.poster_spec(session, jenis, campaign, institution, unit, counter)
    body = posters.render_one(spec, format, ext)
    name = posters.file_name(spec, 1, format).removesuffix(".png") + f".{ext}"
    return Response(body, media_type=MEDIA[ext],
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/qr/{inst_code}/{unit_code}/kode.{ext}")
def bare_code(inst_code: str, unit_code: str, ext: str, request: Request, session: SessionDep,
              loket: str | None = None, jenis: str = REGISTRATION) -> Response:
    """The bare QR code (PNG or SVG), e.g. for the institution's own designs."""
    if ext not in ("png", "svg"):
        return _not_found(request)
    target = _poster_target(session, inst_code, unit_code, loket, jenis)
    if target is None:
        return _not_found(request)
    institution, unit, counter = target
    url = target_url(jenis, institution.code, unit.code, counter)
    body = codes.qr_png(url) if ext == "png" else codes.qr_svg(url).encode()
    return Response(body, media_type=MEDIA[ext])


# --- registration -----------------------------------------------------------------------------


@router.get("/daftar/{inst_code}", response_class=HTMLResponse)
def choose_unit(inst_code: str, request: Request,
                session: SessionDep) -> HTMLResponse:
    """Institution-level entry (the bot sends unknown numbers here): choose your unit."""
    institution = service.find_institution(session, inst_code)
    if institution is None:
        return _not_found(request)
    campaign = service.current_campaign(session, institution.id)  # type: ignore[arg-type]
    blocked = _state_page(request, institution, campaign)
    if blocked is not None:
        return blocked
    units = service.public_units(session, institution.id)  # type: ignore[arg-type]
    return _page(request, "qr/choose_unit.html", institution=institution, units=units,
                 year=campaign.year if campaign else None)


def _form_context(institution: Institution, unit: Unit, campaign: Campaign,
                  action: str) -> dict[str, Any]:
    return {
        "institution": institution, "unit": unit, "year": campaign.year, "action": action,
        "today": service.local_today(institution),
        "closes_on": _closes_on(campaign, institution),
        "summary": messages()["pages"]["form_errors"],
    }


def _closes_on(campaign: Campaign, institution: Institution) -> str:
    return format_date_id(service.closing_day(campaign, institution.timezone))


def _action(kind: str, institution: Institution, unit: Unit, counter: str | None) -> str:
    return urlsplit(target_url(kind, institution.code, unit.code, counter))._replace(
        scheme="", netloc="").geturl()


async def _registration_view(request: Request, inst_code: str, unit_code: str
                             ) -> cache.UnitView | HTMLResponse:
    """The unit and its open campaign (cached, see qr.cache), or the page saying why
    registration is not possible."""
    view = await cache.aview_of(inst_code, unit_code)
    if view is None:
        return _not_found(request)
    blocked = _state_page(request, view.institution, view.campaign)
    if blocked is not None or view.campaign is None:
        return blocked or _not_found(request)
    return view


def _empty_form(view: cache.UnitView, counter: str | None, today: date) -> bytes:
    assert view.campaign is not None
    context = _form_context(view.institution, view.unit, view.campaign,
                            _action(REGISTRATION, view.institution, view.unit, counter))
    context.update(today=today, call_centre=get_settings().call_centre, counter=counter,
                   values={}, errors={})
    return templates.env.get_template("qr/register.html").render(context).encode()


@router.get("/daftar/{inst_code}/{unit_code}", response_class=HTMLResponse)
async def registration_form(inst_code: str, unit_code: str, request: Request,
                            loket: str | None = None) -> Response:
    """The form behind the QR. Async and cached: a view costs no thread and no query."""
    view = await _registration_view(request, inst_code, unit_code)
    if isinstance(view, HTMLResponse):
        return view
    counter = service.known_counter(view.unit, loket)
    today = service.local_today(view.institution)
    body = view.page(counter, today, lambda: _empty_form(view, counter, today))
    return HTMLResponse(body, headers=NO_STORE)


FORM_FIELDS = ("nama", "wa", "email", "layanan", "tanggal", "setuju")


async def _form_values(request: Request) -> dict[str, str]:
    """The registration form's fields ("" when missing; the first value of a repeated one).
    The browser posts it urlencoded: parsed here directly; anything else through Starlette."""
    pairs: list[tuple[str, str]] = []
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = await request.body()
        try:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                              max_num_fields=50)
        except ValueError:  # too many fields: nothing a real form sends; validation refuses it
            pairs = []
    else:
        async with request.form(max_fields=50, max_files=0) as form:
            pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    values = dict.fromkeys(FORM_FIELDS, "")
    seen: set[str] = set()
    for key, value in pairs:
        if key in values and key not in seen:
            values[key] = value
            seen.add(key)
    return values


@router.post("/daftar/{inst_code}/{unit_code}", response_class=HTMLResponse)
async def register(inst_code: str, unit_code: str, request: Request,
                   loket: str | None = None) -> Response:
    """Validation and limits in the event loop; the write goes to the registration writer
    (qr.writer: one thread, a batch of waiting registrations per transaction). The form is
    read by `_form_values`, not by FastAPI's Form(...) parameters (which cost ~0.3 ms a POST)."""
    values = await _form_values(request)
    view = await _registration_view(request, inst_code, unit_code)
    if isinstance(view, HTMLResponse):
        return view
    institution, unit, campaign = view.institution, view.unit, view.campaign
    assert campaign is not None and campaign.id is not None
    counter = service.known_counter(unit, loket)
    form, errors = parse_visitor(values, services=unit.services or [],
                                 today=service.local_today(institution))
    if form is None:
        context = _form_context(institution, unit, campaign,
                                _action(REGISTRATION, institution, unit, counter))
        return _page(request, "qr/register.html", 422, counter=counter,
                     values={k: v[:300] for k, v in values.items()}, errors=errors, **context)
    if not await ratelimit.ip_allowed_async("reg", _client_ip(request)):
        return _message(request, "rate_ip", 429, institution=institution)
    saved = await writer.save(campaign.id, unit, counter, form)
    if saved.refused == "rate_counter":
        return _message(request, "rate_counter", 429, institution=institution)
    if saved.refused == "state" or saved.path is None:
        cache.clear()  # the cached view was stale
        return _state_page(request, institution, saved.campaign) or _not_found(request)
    return RedirectResponse(saved.path, status_code=303, headers={"Referrer-Policy": "no-referrer"})


# --- guest book -------------------------------------------------------------------------------


def _guestbook_target(session: Session, request: Request, inst_code: str, unit_code: str
                      ) -> tuple[Institution, Unit, Campaign | None] | HTMLResponse:
    found = _lookup(session, inst_code, unit_code)
    if found is None:
        return _not_found(request)
    institution, unit = found
    if not institution.registration_enabled:
        return _message(request, "disabled", 403, institution=institution)
    return institution, unit, service.current_campaign(session, institution.id)  # type: ignore[arg-type]


def _guestbook_context(institution: Institution, unit: Unit, campaign: Campaign | None,
                       counter: str | None = None) -> dict[str, Any]:
    return {
        "institution": institution, "unit": unit, "year": campaign.year if campaign else None,
        "action": _action(GUESTBOOK, institution, unit, counter),
        "today": service.local_today(institution),
        "summary": messages()["pages"]["form_errors"],
    }


@router.get("/bukutamu/{inst_code}/{unit_code}", response_class=HTMLResponse)
def guestbook_form(inst_code: str, unit_code: str, request: Request,
                   session: SessionDep, loket: str | None = None) -> HTMLResponse:
    target = _guestbook_target(session, request, inst_code, unit_code)
    if isinstance(target, HTMLResponse):
        return target
    counter = service.known_counter(target[1], loket)
    return _page(request, "qr/guestbook.html", values={}, errors={},
                 **_guestbook_context(*target, counter))


@router.post("/bukutamu/{inst_code}/{unit_code}", response_class=HTMLResponse)
def guestbook_submit(
    inst_code: str, unit_code: str, request: Request,
    nama: str = Form(""), wa: str = Form(""), email: str = Form(""), layanan: str = Form(""),
    tanggal: str = Form(""), setuju: str = Form(""), loket: str | None = None,
) -> Response:
    settings = get_settings()
    values = {"nama": nama, "wa": wa, "email": email, "layanan": layanan, "tanggal": tanggal,
              "setuju": setuju}
    with write_scope() as session:
        target = _guestbook_target(session, request, inst_code, unit_code)
        if isinstance(target, HTMLResponse):
            return target
        institution, unit, campaign = target
        counter = service.known_counter(unit, loket)
        form, errors = parse_visitor(values, services=unit.services or [],
                                     today=service.local_today(institution), phone_required=False)
        if form is None:
            return _page(request, "qr/guestbook.html", 422, errors=errors,
                         values={k: v[:300] for k, v in values.items()},
                         **_guestbook_context(institution, unit, campaign, counter))
        if not ratelimit.ip_allowed("gb", _client_ip(request)):
            return _message(request, "rate_ip", 429, institution=institution)
        if ratelimit.guestbook_entries(session, unit.id, settings.qr_counter_window_seconds  # type: ignore[arg-type]
                                       ) >= settings.qr_counter_limit:
            return _message(request, "rate_counter", 429, institution=institution)
        service.add_guestbook_entry(session, unit=unit, form=form, counter=counter)
        done = _action(GUESTBOOK, institution, unit, None) + "/terima-kasih"
    return RedirectResponse(done, status_code=303)


@router.get("/bukutamu/{inst_code}/{unit_code}/terima-kasih", response_class=HTMLResponse)
def guestbook_done(inst_code: str, unit_code: str, request: Request,
                   session: SessionDep) -> HTMLResponse:
    found = _lookup(session, inst_code, unit_code)
    institution = found[0] if found else None
    return _message(request, "guestbook_done", 200, "Terima kasih", institution=institution)
