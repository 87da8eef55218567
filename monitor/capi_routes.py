"""The interviewers' side of the dashboard (issue 23): the CAPI sync API under `/api/capi/` and
the PIC's page `/pic/capi` (interviewers, their PINs, handing respondents over, wipe orders, the
figures per interviewer and counter).

The API speaks JSON only. An interviewer logs in with login + PIN (`auth.authenticate_pin`,
limited per network by the dashboard's login limiter) and gets a server-side session like a PIC's,
but shorter (capi.yaml `session_minutes`) and good for nothing but this API (the interviewer role
ranks below viewer, so every /pic page answers 403). Every POST but the login needs the session's
CSRF token in `X-CSRF-Token` and a JSON body (a cross-site form can send neither). Every call
carries the device id (`X-Capi-Device`); a pending wipe order for that device is answered with
`wipe: true` (and a sync then stores nothing) until the app confirms it deleted its pending items.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlmodel import col, select

import capi
from core.audit import record
from core.db import session_scope
from core.models import Assignment, Campaign, Institution, Person, Unit
from core.security import client_ip
from monitor import auth
from monitor.auth import CurrentUser, check_scope, require_user
from monitor.models import Role, User
from monitor.router import _render
from monitor.users import add_user

router = APIRouter(tags=["capi"])
Actor = Annotated[CurrentUser, Depends(require_user(Role.pic))]
MAX_BODY = 2 * 1024 * 1024  # a batch of interviews (the app sends at most max_batch_items)
_PIN = re.compile(r"^[0-9]+$")


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _device(request: Request) -> str:
    device = capi.valid_device_id(request.headers.get("x-capi-device"))
    if device is None:
        raise HTTPException(400, "Perangkat tidak dikenal.")
    return device


async def _body(request: Request) -> dict[str, Any]:
    if "application/json" not in request.headers.get("content-type", ""):
        raise HTTPException(415, "Kirim data sebagai JSON.")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, "Data terlalu besar; sinkronkan sebagian dahulu.")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise HTTPException(400, "Data tidak dapat dibaca.") from exc
    if not isinstance(data, dict):
        raise HTTPException(400, "Data tidak dapat dibaca.")
    return data


async def interviewer(request: Request) -> CurrentUser:
    """The logged-in interviewer (401 JSON otherwise, for the app to ask for the PIN again);
    POSTs also need the CSRF token."""
    data = auth.read_session(request)
    user = auth.load_user(data)
    if user is None or user.role != Role.interviewer or user.institution_id is None:
        raise HTTPException(401, capi.message("session_ended"))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await auth.check_csrf(request, data)
    return user


Interviewer = Annotated[CurrentUser, Depends(interviewer)]


@router.post("/api/capi/login")
async def login(request: Request) -> JSONResponse:
    body = await _body(request)
    device = _device(request)
    login_name, pin = str(body.get("login", ""))[:120], str(body.get("pin", ""))[:20]
    ip = client_ip(request.scope)
    if await auth.login_limited(ip, login_name):
        return _json({"message": "Terlalu banyak percobaan masuk. Silakan coba lagi 15 menit lagi."}, 429)
    try:
        with session_scope(write=True) as session:
            user = auth.authenticate_pin(session, login_name, pin)
            fresh = auth.start_session(session, user, ip, hours=capi.settings()["session_minutes"] / 60)
            assert user.institution_id is not None
            wipe = capi.touch_device(session, device, user.institution_id, user.id)  # type: ignore[arg-type]
            name = user.name or user.login
    except auth.AuthError:
        await auth.login_failed(ip, login_name)
        return _json({"message": capi.message("pin_wrong")}, 401)
    response = _json({"csrf": fresh.csrf, "name": name, "wipe": wipe})
    auth.write_session(response, fresh)
    return response


@router.post("/api/capi/logout")
async def logout(request: Request, user: Interviewer) -> JSONResponse:
    auth.end_session(auth.read_session(request))
    response = _json({"ok": True})
    auth.clear_session(response)
    return response


@router.get("/api/capi/bundle")
def bundle(request: Request, user: Interviewer) -> JSONResponse:
    device = _device(request)
    assert user.institution_id is not None
    with session_scope(write=True) as session:
        wipe = capi.touch_device(session, device, user.institution_id, user.id)
        data = capi.bundle(session, user.id, user.institution_id)
    return _json({**data, "name": user.name or user.login, "csrf": user.csrf, "wipe": wipe})


@router.post("/api/capi/sync")
async def sync(request: Request, user: Interviewer) -> JSONResponse:
    device = _device(request)
    body = await _body(request)
    items = body.get("items")
    if not isinstance(items, list) or len(items) > int(capi.settings()["max_batch_items"]):
        raise HTTPException(400, "Daftar wawancara tidak sah.")
    assert user.institution_id is not None
    with session_scope(write=True) as session:
        wipe = capi.touch_device(session, device, user.institution_id, user.id)
    if wipe:  # the device is to delete what it holds: nothing of it is stored
        return _json({"wipe": True, "results": []})
    # One transaction per item: off the event loop, so other requests are served meanwhile.
    results = await run_in_threadpool(capi.sync, user.id, user.institution_id, device, items)
    return _json({"wipe": False, "results": [r.as_dict() for r in results]})


@router.post("/api/capi/wipe-done")
async def wipe_done(request: Request, user: Interviewer) -> JSONResponse:
    device = _device(request)
    with session_scope(write=True) as session:
        n = capi.confirm_wipe(session, device)
        if n:
            record(session, user.login, "capi.wipe_obeyed", institution_id=user.institution_id,
                   target=f"device:{device}")
    return _json({"obeyed": n})


# --- the PIC's page: interviewers, PINs, handing respondents over, wipe orders, figures -----------


def _institution(user: CurrentUser, requested: int | None) -> int:
    """The institution the page is about: the PIC's own; an admin's choice (?instansi=)."""
    inst = requested if user.is_admin else user.institution_id
    if inst is None:
        raise HTTPException(404, "Data tidak ditemukan.")
    check_scope(user, inst)
    return inst


def _check_pin(pin: str) -> str:
    s = capi.settings()
    if not _PIN.match(pin) or not s["pin_min_length"] <= len(pin) <= s["pin_max_length"]:
        raise auth.AuthError(capi.message("pin_format"), status=400)
    return pin


def _page_url(inst: int, ok: str) -> str:
    return f"/pic/capi?instansi={inst}&ok={ok}"


FLASH = {"pewawancara": "Pewawancara ditambahkan.", "pin": "PIN diganti.", "hapus": "Perintah hapus dikirim; "
         "dijalankan saat tablet itu terhubung lagi.", "serah": "Responden diserahkan kepada pewawancara."}


@router.get("/pic/capi", response_class=HTMLResponse)
def page(request: Request, user: Actor, instansi: int | None = None, ok: str | None = None,
         error: str | None = None) -> HTMLResponse:
    with session_scope() as session:
        if user.is_admin and instansi is None:  # an admin starts at the first institution
            instansi = session.exec(select(Institution.id).order_by(col(Institution.id))).first()
        inst_id = _institution(user, instansi)
        inst = session.get(Institution, inst_id)
        if inst is None:
            raise HTTPException(404, "Data tidak ditemukan.")
        people = session.exec(select(User).where(User.institution_id == inst_id, User.role == Role.interviewer)
                              .order_by(col(User.login))).all()
        names = {p.id: p.name or p.login for p in people if p.id is not None}
        by_interviewer, by_counter = capi.overview(session, inst_id, names)
        units = session.exec(select(Unit).where(Unit.institution_id == inst_id).order_by(col(Unit.name))).all()
        devices = session.exec(select(capi.CapiDevice).where(capi.CapiDevice.institution_id == inst_id)
                               .order_by(col(capi.CapiDevice.last_seen_at).desc())).all()
        pending = {d.device_id for d in devices if capi.wipe_pending(session, d.device_id)}
    return _render(request, "capi.html", user, inst=inst, people=people, by_interviewer=by_interviewer,
                   by_counter=by_counter, units=units, devices=devices, pending=pending, names=names,
                   fast_window=capi.settings()["fast_window_minutes"], message=FLASH.get(ok or ""), error=error)


def _fail(inst: int, exc: Exception) -> RedirectResponse:
    return RedirectResponse(f"/pic/capi?instansi={inst}&error={quote(str(exc))}", status_code=303)


@router.post("/pic/capi/pewawancara", response_model=None)
def add_interviewer(user: Actor, instansi: Annotated[int, Form()], login: Annotated[str, Form(max_length=120)],
                    pin: Annotated[str, Form(max_length=20)], name: Annotated[str, Form(max_length=200)] = "",
                    ) -> RedirectResponse:
    inst = _institution(user, instansi)
    try:
        with session_scope(write=True) as session:
            person = add_user(session, login=login, password=secrets.token_urlsafe(24), role=Role.interviewer,
                              institution_id=inst, name=name, actor=user.login)
            person.pin_hash = auth.hash_pin(_check_pin(pin))
            session.add(person)
    except auth.AuthError as exc:
        return _fail(inst, exc)
    return RedirectResponse(_page_url(inst, "pewawancara"), status_code=303)


@router.post("/pic/capi/pewawancara/{login}/pin", response_model=None)
def set_pin(user: Actor, login: str, instansi: Annotated[int, Form()],
            pin: Annotated[str, Form(max_length=20)]) -> RedirectResponse:
    inst = _institution(user, instansi)
    try:
        with session_scope(write=True) as session:
            person = session.exec(select(User).where(User.login == login, User.role == Role.interviewer,
                                                     User.institution_id == inst)).first()
            if person is None:
                raise HTTPException(404, "Data tidak ditemukan.")
            person.pin_hash = auth.hash_pin(_check_pin(pin))
            session.add(person)
            auth.end_all_sessions(session, person.id)
            record(session, user.login, "capi.pin", institution_id=inst, target=login)
    except auth.AuthError as exc:
        return _fail(inst, exc)
    return RedirectResponse(_page_url(inst, "pin"), status_code=303)


@router.post("/pic/capi/serahkan", response_model=None)
def hand_over(user: Actor, instansi: Annotated[int, Form()], interviewer_id: Annotated[int, Form(ge=1)],
              unit_id: Annotated[int, Form(ge=1)], count: Annotated[int, Form(ge=1, le=500)]) -> RedirectResponse:
    """Hand `count` respondents of a unit who have not answered (those with no phone or email
    first) to an interviewer."""
    inst = _institution(user, instansi)
    with session_scope(write=True) as session:
        person = session.get(User, interviewer_id)
        if person is None or person.role != Role.interviewer or person.institution_id != inst:
            raise HTTPException(404, "Data tidak ditemukan.")
        handed = select(capi.InterviewerAssignment.assignment_id)
        ids = session.exec(
            select(Assignment.id).join(Campaign, col(Campaign.id) == Assignment.campaign_id)
            .join(Person, col(Person.id) == Assignment.person_id)
            .where(Campaign.institution_id == inst, Assignment.unit_id == unit_id,
                   col(Assignment.active).is_(True), col(Assignment.responded_at).is_(None),
                   col(Assignment.id).not_in(handed))
            .order_by(col(Person.phone).is_not(None), col(Person.email).is_not(None), col(Assignment.id))
            .limit(count)).all()
        n = capi.assign(session, [i for i in ids if i is not None], interviewer_id, inst, user.login)
        record(session, user.login, "capi.assign", institution_id=inst, target=f"user:{interviewer_id}",
               details={"unit_id": unit_id, "count": n})
    return RedirectResponse(_page_url(inst, "serah"), status_code=303)


@router.post("/pic/capi/hapus-perangkat", response_model=None)
def wipe(user: Actor, instansi: Annotated[int, Form()],
         device_id: Annotated[str, Form(max_length=64)]) -> RedirectResponse:
    inst = _institution(user, instansi)
    with session_scope(write=True) as session:
        device = session.exec(select(capi.CapiDevice).where(capi.CapiDevice.device_id == device_id,
                                                            capi.CapiDevice.institution_id == inst)).first()
        if device is None:
            raise HTTPException(404, "Data tidak ditemukan.")
        capi.order_wipe(session, device_id, inst, user.login)
        record(session, user.login, "capi.wipe_ordered", institution_id=inst, target=f"device:{device_id}")
    return RedirectResponse(_page_url(inst, "hapus"), status_code=303)
