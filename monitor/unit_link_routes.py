"""A unit's own upload link: the PIC gives it, revokes it and sets the unit's contact email (on
"Kumpulkan data"); the unit opens `/unggah/<token>` without an account and sends its file through
the same preview → Simpan steps as the PIC (`monitor.intake`), limited to its own rows.

The public page is anonymous: its forms carry the CSRF token of the anonymous cookie (as the login
form does). An unknown or revoked token, or a campaign that has ended, is 404.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.audit import record
from core.clock import local, utcnow
from core.db import session_scope
from core.models import Unit
from core.params import RowId
from monitor import auth, intake, unit_links
from monitor.auth import CurrentUser, require_user
from monitor.models import Role
from monitor.router import _campaign, _render
from population import IntakeError, default_reference_date, describe_error, sample_drawn, unit_code

router = APIRouter(tags=["dashboard"])
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
SizeChecked = Annotated[None, Depends(intake.body_limit)]
Token = Annotated[str, "the link's token (43 characters)"]
GONE = "Tautan unggah ini tidak dikenal atau sudah tidak berlaku. Mintalah tautan baru kepada PIC SPI instansi Anda."


# --- the PIC's side (on "Kumpulkan data") --------------------------------------------------------------


def _unit(session: Any, user: CurrentUser, campaign_id: int, unit_id: int) -> tuple[Any, Any, Unit]:
    campaign, inst = _campaign(session, user, campaign_id)  # another institution's: 404 first
    unit = session.get(Unit, unit_id)
    if unit is None or unit.institution_id != inst.id:
        raise HTTPException(404, "Unit tidak ditemukan.")
    return campaign, inst, unit


def _back(campaign_id: int, ok: str) -> RedirectResponse:
    return RedirectResponse(f"/pic/c/{campaign_id}/data?ok={ok}#tautan-unit", status_code=303)


def _refuse(message: str) -> HTTPException:
    return HTTPException(422, message)


@router.post("/pic/c/{campaign_id}/data/unit/{unit_id}/kontak", response_model=None)
def contact(campaign_id: RowId, unit_id: RowId, user: Actor,
            email: Annotated[str, Form(max_length=254)] = "") -> Response:
    """The unit's office email for the deadline reminder ("" removes it)."""
    address = unit_links.clean_email(email)
    if address is None:
        raise _refuse("Alamat email unit tidak valid, misalnya dinkes@katingankab.go.id.")
    with session_scope(write=True) as session:
        _, inst, unit = _unit(session, user, campaign_id, unit_id)
        unit.contact_email = address or None
        session.add(unit)
        record(session, user.login, "unit.contact", institution_id=inst.id, target=f"unit:{unit.code}",
               details={"email": bool(address)})
    return _back(campaign_id, "kontak")


@router.post("/pic/c/{campaign_id}/data/unit/{unit_id}/tautan", response_model=None)
def give_link(campaign_id: RowId, unit_id: RowId, user: Actor,
              batas: Annotated[str, Form(max_length=20)] = "") -> Response:
    """A new upload link for the unit (the previous one stops working)."""
    with session_scope(write=True) as session:
        campaign, inst, unit = _unit(session, user, campaign_id, unit_id)
        assert campaign.id is not None and unit.id is not None and campaign.closes_at is not None
        today, closes = local(utcnow(), inst.timezone).date(), local(campaign.closes_at, inst.timezone).date()
        if sample_drawn(session, campaign.id):
            raise HTTPException(409, "Sampel sudah ditarik: daftar unit kerja tidak dapat diganti lagi lewat tautan.")
        try:
            deadline = date.fromisoformat(batas.strip()) if batas.strip() else closes
        except ValueError as exc:
            raise _refuse("Batas unggah tidak valid; pilih tanggal dari kalender.") from exc
        if not today <= deadline <= closes:
            raise _refuse("Batas unggah harus antara hari ini dan tanggal tutup survei.")
        link, _ = unit_links.issue(session, campaign.id, unit.id, deadline, user.login)
        record(session, user.login, "unit.upload_link", institution_id=inst.id, target=f"unit:{unit.code}",
               details={"campaign": campaign.id, "link": link.id, "deadline": deadline.isoformat()})
    return _back(campaign_id, "tautan")


@router.post("/pic/c/{campaign_id}/data/unit/{unit_id}/tautan/cabut", response_model=None)
def revoke_link(campaign_id: RowId, unit_id: RowId, user: Actor) -> Response:
    with session_scope(write=True) as session:
        campaign, inst, unit = _unit(session, user, campaign_id, unit_id)
        ended = unit_links.revoke(session, campaign_id, unit_id, user.login)
        record(session, user.login, "unit.upload_link_revoked", institution_id=inst.id, target=f"unit:{unit.code}",
               details={"campaign": campaign.id, "ended": ended})
    return _back(campaign_id, "cabut")


# --- the unit's side: /unggah/<token> --------------------------------------------------------------------


def only_unit(unit: Unit) -> intake.Check:
    """Refuse a preview with a row of another unit, without a unit, or an expert list."""

    def check(meta: dict[str, Any]) -> None:
        for f in meta["preview"]:
            for s in f["sheets"]:
                where = f"Berkas «{f['name']}»" + (f", sheet «{s['sheet']}»" if s["sheet"] else "")
                if s["form"] == "expert":
                    raise intake.UploadRefused(f"{where} berisi daftar narasumber ahli (eksper); daftar eksper "
                                               "dikirim oleh PIC instansi, bukan oleh unit kerja.")
                others = sorted({name for name in s["units"] if unit_code(name) != unit.code})
                if others or s["unit_count"] > len(s["units"]):
                    raise intake.UploadRefused(
                        f"{where} berisi data unit kerja lain ({', '.join(others[:3]) or 'banyak unit'}). Tautan ini "
                        f"hanya untuk {unit.name}: kirim hanya baris {unit.name}, dengan nama unit kerja ditulis "
                        "persis seperti itu.", 403)
                if s["rows"] and not s["unit_count"]:
                    raise intake.UploadRefused(f"{where} tidak menyebut unit kerja. Isi kolom Unit Kerja dengan "
                                               f"«{unit.name}» pada setiap baris.")

    return check


def _opened(token: str) -> unit_links.Opened:
    with session_scope() as session:
        found = unit_links.open_link(session, token)
        if found is None:
            raise HTTPException(404, GONE)
        session.expunge_all()
    return found


def _page(request: Request, token: str, *, preview: str | None = None, result: str | None = None,
          error: str | None = None, message: str | None = None, status: int = 200) -> HTMLResponse:
    opened = _opened(token)
    assert opened.link.id is not None and opened.campaign.id is not None
    root = intake.link_root(opened.link.id)
    meta = intake.read_json(folder / "preview.json") if (folder := intake.preview_dir(root, preview)) else None
    done = intake.read_json(folder / "result.json") if (folder := intake.preview_dir(root, result)) else None
    if preview and meta is None and error is None:
        error = intake.NOT_FOUND
    with session_scope() as session:
        drawn = sample_drawn(session, opened.campaign.id)
    data = auth.read_session(request)
    fresh = data is None
    data = data or auth.new_session()
    response = _render(
        request, "unggah_unit.html", None, title=f"Unggah data {opened.unit.name}", unit=opened.unit,
        institution=opened.institution, link=opened.link, token=token, csrf=data.csrf, drawn=drawn,
        preview=intake.preview_view(meta) if meta else None, preview_id=preview if meta else "",
        result=intake.result_view(done) if done else None, message=message, error=error,
        size_rule=intake.SIZE_RULE, today=local(utcnow(), opened.institution.timezone).date())
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the address
    if fresh:
        auth.write_session(response, data)
    return response


async def _csrf(request: Request) -> None:
    await auth.check_csrf(request, auth.read_session(request))


def _url(token: str, query: str = "") -> str:
    return f"/unggah/{quote(token)}" + (f"?{query}" if query else "")


@router.get("/unggah/{token}", response_class=HTMLResponse, include_in_schema=False)
def unit_page(request: Request, token: Token, pratinjau: str | None = None, hasil: str | None = None,
              ok: str | None = None) -> HTMLResponse:
    message = "Pratinjau dibuang; tidak ada data yang disimpan." if ok == "batal" else None
    return _page(request, token, preview=pratinjau, result=hasil, message=message)


@router.post("/unggah/{token}/berkas", response_model=None, include_in_schema=False)
async def unit_upload(request: Request, token: Token, _size: SizeChecked) -> Response:
    opened = _opened(token)  # an unknown or revoked link: 404 before the body is read
    await _csrf(request)
    link, unit, inst, campaign = opened.link, opened.unit, opened.institution, opened.campaign
    assert link.id is not None and inst.id is not None and campaign.id is not None and campaign.closes_at
    form = await request.form()
    today = local(utcnow(), inst.timezone).date()
    try:
        folder = await intake.receive(
            form, intake.link_root(link.id), institution_id=inst.id, campaign_id=campaign.id,
            login=f"unit-link:{link.id}", today=today, check=only_unit(unit),
            default_reference=default_reference_date(today, local(campaign.closes_at, inst.timezone).date()))
    except (intake.UploadRefused, IntakeError) as exc:
        status = exc.status if isinstance(exc, intake.UploadRefused) else 422
        text = describe_error(exc) if isinstance(exc, IntakeError) else str(exc)
        return _page(request, token, error=f"{text} Tidak ada data yang disimpan.", status=status)
    return RedirectResponse(_url(token, f"pratinjau={folder.name}#pratinjau"), status_code=303)


@router.post("/unggah/{token}/simpan", response_model=None, include_in_schema=False)
async def unit_save(request: Request, token: Token) -> Response:
    opened = _opened(token)
    await _csrf(request)
    form = await request.form()
    pratinjau = form.get("pratinjau")
    assert opened.link.id is not None and opened.campaign.id is not None
    folder = intake.preview_dir(intake.link_root(opened.link.id), pratinjau if isinstance(pratinjau, str) else None)
    if folder is None:
        return _page(request, token, error=intake.NOT_FOUND, status=404)
    link_id = opened.link.id

    def institution(session: Any) -> Any:  # inside the import's transaction: still live?
        again = unit_links.open_link(session, token)
        if again is None or again.link.id != link_id:
            raise HTTPException(404, GONE)
        return again.institution

    try:
        _, again = intake.save(folder, campaign_id=opened.campaign.id, actor=f"unit-link:{link_id}",
                               institution=institution, check=only_unit(opened.unit))
    except intake.UploadRefused as exc:
        return _page(request, token, error=str(exc), status=exc.status)
    except IntakeError as exc:
        return _page(request, token, preview=folder.name, status=422,
                     error=f"Impor dibatalkan, tidak ada data yang disimpan. {describe_error(exc)}")
    return RedirectResponse(_url(token, f"hasil={folder.name}{'&ulang=1' if again else ''}#hasil"), status_code=303)


@router.post("/unggah/{token}/batal", response_model=None, include_in_schema=False)
async def unit_discard(request: Request, token: Token) -> Response:
    opened = _opened(token)
    await _csrf(request)
    form = await request.form()
    pratinjau = form.get("pratinjau")
    assert opened.link.id is not None
    intake.discard(intake.preview_dir(intake.link_root(opened.link.id),
                                      pratinjau if isinstance(pratinjau, str) else None))
    return RedirectResponse(_url(token, "ok=batal"), status_code=303)
