"""The admin's own second factor (TOTP): enrol (the secret as an otpauth URI and its QR code,
confirmed by a first code), see it is on, switch it off with a current code. Codes typed here
count against the login limits like codes at login. `monitor.totp` holds the rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.audit import record
from core.db import session_scope
from core.security import client_ip
from monitor import auth, totp
from monitor.auth import CurrentUser, require_user
from monitor.models import Role, User
from monitor.router import _render

router = APIRouter(prefix="/pic", tags=["dashboard"])
Admin = Annotated[CurrentUser, Depends(require_user(Role.admin))]
PAGE = "/pic/akun/2fa"
FLASH = {"aktif": "Verifikasi dua langkah aktif. Kode dari aplikasi diminta setiap kali Anda masuk.",
         "mati": "Verifikasi dua langkah dimatikan."}
TOO_MANY = "Terlalu banyak percobaan dari jaringan ini. Silakan coba lagi 15 menit lagi."
WRONG = "Kode verifikasi salah atau sudah dipakai. Periksa jam ponsel Anda lalu coba lagi."


def _page(request: Request, user: CurrentUser, *, error: str | None = None, message: str | None = None,
          status: int = 200) -> HTMLResponse:
    with session_scope(write=True) as session:
        row = session.get(User, user.id)
        assert row is not None
        enabled_at = row.totp_enabled_at
        if enabled_at is None and not row.totp_secret:
            totp.begin(row)  # a secret to scan; kept (unconfirmed) so a reload shows the same one
            session.add(row)
        uri = totp.uri(row) if enabled_at is None else None
        secret = row.totp_secret if enabled_at is None else None
    response = _render(request, "akun_2fa.html", user, enabled_at=enabled_at, uri=uri, secret=secret,
                       qr=totp.qr_data_uri(uri) if uri else None, error=error, message=message)
    response.status_code = status
    return response


@router.get("/akun/2fa", response_class=HTMLResponse)
def totp_page(request: Request, user: Admin, ok: str | None = None) -> HTMLResponse:
    return _page(request, user, message=FLASH.get(ok or ""))


async def _checked(request: Request, user: CurrentUser, code: str, change: str) -> Response | None:
    """Apply `change` ("enable" or "disable") if `code` is right; else the page with the error."""
    ip = client_ip(request.scope)
    if await auth.login_limited(ip, user.login):
        return _page(request, user, error=TOO_MANY, status=429)
    with session_scope(write=True) as session:
        row = session.get(User, user.id)
        assert row is not None
        if change == "enable":
            done = totp.confirm(row, code)
        else:
            done = row.totp_enabled_at is not None and totp.check(row, code)
            if done:
                totp.disable(row)
        if done:
            session.add(row)
            record(session, user.login, f"user.totp_{change}", institution_id=row.institution_id,
                   target=row.login)
    if not done:
        await auth.login_failed(ip, user.login)
        return _page(request, user, error=WRONG, status=422)
    return None


@router.post("/akun/2fa", response_model=None)
async def totp_enable(request: Request, user: Admin, code: Annotated[str, Form(max_length=12)] = "") -> Response:
    refused = await _checked(request, user, code, "enable")
    return refused or RedirectResponse(f"{PAGE}?ok=aktif", status_code=303)


@router.post("/akun/2fa/matikan", response_model=None)
async def totp_disable(request: Request, user: Admin, code: Annotated[str, Form(max_length=12)] = "") -> Response:
    refused = await _checked(request, user, code, "disable")
    return refused or RedirectResponse(f"{PAGE}?ok=mati", status_code=303)
