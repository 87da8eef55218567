"""Dashboard authentication and authorisation.

- Passwords hashed with argon2id; a locked account (too many failures) refuses even the right
  password until the lock expires.
- The session is a signed, timed cookie (itsdangerous) holding the user id, the user's
  `session_version` (bumped on password change/disable, which logs out every old cookie) and a
  CSRF token. Every non-GET request must echo that token (form field `csrf` or header
  `X-CSRF-Token`). Anonymous visitors get a cookie with a CSRF token only, so the login form is
  protected too.
- `require_user(role)` is the FastAPI dependency every route uses; `check_scope(user, inst_id)`
  is the institution check every route and export calls: a PIC or viewer sees only their own
  institution, and anything else answers 404 (it does not even confirm the thing exists).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session, select

from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope
from core.errors import SpibotError
from core.ratewindow import count_async, hit_async, rate_window
from monitor.models import Role, User

COOKIE = "spibot_pic"
_RANK = {Role.viewer: 0, Role.pic: 1, Role.admin: 2}


@lru_cache
def _hasher(env: str) -> PasswordHasher:
    """argon2id with the library's defaults; ENV=test only uses cheap parameters so the suite
    stays fast (a hash records its parameters, so verification follows whatever made it)."""
    if env == "test":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


@lru_cache
def _dummy_hash(env: str) -> str:
    """Verified against when the login is unknown, so both paths cost the same time."""
    return _hasher(env).hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10


class AuthError(SpibotError):
    """A login or user-management request that cannot be done; the message is for the user."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status  # 401 a wrong login, 429 too many tries from this network


@dataclass(frozen=True)
class SessionData:
    user_id: int | None
    version: int
    csrf: str


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in user as routes see it (a detached copy: safe after the session closes)."""

    id: int
    login: str
    name: str
    role: str
    institution_id: int | None
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def can_act(self) -> bool:
        """Viewers are read-only; PICs and admins may send reminders."""
        return self.role in (Role.admin, Role.pic)


# --- passwords ----------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.")
    return _hasher(get_settings().env).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher(get_settings().env).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _login_keys(ip: str, login: str) -> tuple[str, str]:
    return f"login-ip|{ip}", f"login|{ip}|{login.strip().lower()}"


async def login_limited(ip: str, login: str) -> bool:
    """Too many failed logins from this IP (on this login, or on any): refuse for a while."""
    s = get_settings()
    window, seconds = rate_window(), s.monitor_lockout_minutes * 60.0
    by_ip, by_pair = _login_keys(ip, login)
    return (await count_async(window, by_pair, seconds) >= s.monitor_lockout_attempts
            or await count_async(window, by_ip, seconds) >= s.monitor_lockout_ip_attempts)


async def login_failed(ip: str, login: str) -> None:
    s = get_settings()
    window, seconds = rate_window(), s.monitor_lockout_minutes * 60.0
    by_ip, by_pair = _login_keys(ip, login)
    await hit_async(window, by_pair, s.monitor_lockout_attempts, seconds)
    await hit_async(window, by_ip, s.monitor_lockout_ip_attempts, seconds)


def authenticate(session: Session, login: str, password: str) -> User:
    """Check a login (an unknown one costs the same time as a known one). Raises AuthError;
    failures are limited per IP by the route (`login_limited`), never by locking the account."""
    settings = get_settings()
    user = session.exec(select(User).where(User.login == login.strip().lower())).first()
    if user is None:
        verify_password(_dummy_hash(settings.env), password)
        raise AuthError("Nama pengguna atau kata sandi salah.")
    now = utcnow()
    if not user.active or not verify_password(user.password_hash, password):
        # Counted per IP by the route (login_limited), never as an account lock.
        raise AuthError("Nama pengguna atau kata sandi salah.")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    return user


# --- the session cookie ---------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="monitor.session")


def read_session(request: Request) -> SessionData | None:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 1000:
        return None
    max_age = get_settings().monitor_session_hours * 3600
    try:
        data = _serializer().loads(raw, max_age=max_age)
        return SessionData(user_id=data.get("u"), version=int(data.get("v", 0)), csrf=str(data["c"]))
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None


def write_session(response: Response, data: SessionData) -> None:
    settings = get_settings()
    value = _serializer().dumps({"u": data.user_id, "v": data.version, "c": data.csrf})
    response.set_cookie(
        COOKIE, value, max_age=settings.monitor_session_hours * 3600, path="/", httponly=True,
        secure=settings.public_base_url.startswith("https://"), samesite="lax",
    )


def new_session(user: User | None) -> SessionData:
    """A fresh session (new CSRF token): used at login, so a planted cookie is never promoted."""
    if user is None:
        return SessionData(user_id=None, version=0, csrf=secrets.token_urlsafe(24))
    return SessionData(user_id=user.id, version=user.session_version, csrf=secrets.token_urlsafe(24))


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


async def check_csrf(request: Request, data: SessionData | None) -> None:
    """Refuse a state-changing request whose CSRF token does not match the cookie's."""
    sent = request.headers.get("x-csrf-token")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if "form" in content_type:
            form = await request.form()
            value = form.get("csrf")
            sent = value if isinstance(value, str) else None
    if data is None or not sent or not hmac.compare_digest(sent, data.csrf):
        raise HTTPException(403, "Formulir kedaluwarsa atau tidak sah (CSRF). Muat ulang halaman lalu coba lagi.")


# --- the dependency every route uses --------------------------------------------------------------


def _login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(303, "Silakan masuk.", headers={"Location": f"/pic/login?next={quote(target)}"})


def load_user(data: SessionData | None) -> CurrentUser | None:
    if data is None or data.user_id is None:
        return None
    with session_scope() as session:
        user = session.get(User, data.user_id)
        if user is None or not user.active or user.session_version != data.version:
            return None
        return CurrentUser(
            id=user.id,  # type: ignore[arg-type]
            login=user.login, name=user.name, role=user.role,
            institution_id=user.institution_id, csrf=data.csrf,
        )


def require_user(role: str = Role.viewer) -> Callable[[Request], Awaitable[CurrentUser]]:
    """FastAPI dependency: the logged-in user with at least `role`.

    Anonymous → 303 to the login page; too low a role → 403; non-GET requests also need a valid
    CSRF token.
    """
    needed = _RANK[Role(role)]

    async def dependency(request: Request) -> CurrentUser:
        data = read_session(request)
        user = load_user(data)
        if user is None:
            raise _login_redirect(request)
        if _RANK[Role(user.role)] < needed:
            raise HTTPException(403, "Anda tidak memiliki akses ke halaman ini.")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            await check_csrf(request, data)
        return user

    return dependency


def check_scope(user: CurrentUser, institution_id: int | None) -> None:
    """Raise 404 unless `user` may see data of `institution_id` (admins see every institution)."""
    if user.is_admin:
        return
    if institution_id is None or user.institution_id != institution_id:
        raise HTTPException(404, "Data tidak ditemukan.")


def scope_filter(user: CurrentUser) -> dict[str, Any]:
    """For list queries: {} for admins, else {'institution_id': own}."""
    return {} if user.is_admin else {"institution_id": user.institution_id}
