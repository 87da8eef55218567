"""Dashboard authentication and authorisation.

- Passwords hashed with argon2id. Failed logins are limited per network (IP, and IP + login),
  never by locking the account (`login_limited`); TOTP codes count against the same limits.
- Sessions are held server-side (`monitor_session`): the cookie is signed and timed
  (itsdangerous) and carries a random session id (stored only as its SHA-256) and a CSRF token.
  A session ends at logout, when the user's password changes or the user is disabled (every
  session of that user at once), MONITOR_SESSION_IDLE_MINUTES after its last request, and
  MONITOR_SESSION_HOURS after the login in any case. Every non-GET request must echo the CSRF
  token (form field `csrf` or header `X-CSRF-Token`). Anonymous visitors get a cookie with a
  CSRF token only, so the login form is protected too.
- A user with a TOTP second factor (`monitor.totp`) who gave the right password holds a
  *pending* cookie (their id, for PENDING_SECONDS) that only the code form accepts.
- `require_user(role)` is the FastAPI dependency every route uses; `check_scope(user, inst_id)`
  is the institution check every route and export calls: a PIC or viewer sees only their own
  institution, and anything else answers 404 (it does not even confirm the thing exists).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import session_scope
from core.errors import SpibotError
from core.ratewindow import count_async, hit_async, rate_window
from core.tokens import hash_token
from monitor.models import MonitorSession, Role, User

COOKIE = "spibot_pic"
TOUCH_SECONDS = 60  # a session's last_seen_at is written at most this often (not per request)
PENDING_SECONDS = 300  # time to type the TOTP code after the right password
KEEP_ENDED_DAYS = 30  # ended sessions of a user are deleted at their next login after this long
# The pages an admin without the required second factor may still open: enrolling, logging out.
ENROL_PATHS = ("/pic/akun/2fa", "/pic/logout")
# An interviewer ranks below a viewer: no dashboard page at all, only the CAPI API (monitor.capi_routes).
_RANK = {Role.interviewer: -1, Role.agent: -1, Role.viewer: 0, Role.pic: 1, Role.admin: 2}  # agent: the inbox only
# Requests a page makes by itself (the live figures' polling, static/live.js): they do not count as
# activity, so an open dashboard tab left alone still ends at the idle timeout.
PASSIVE = re.compile(r"^/pic/c/[^/]+/live\.json$")


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
    """What the cookie holds: the CSRF token, and the server-side session's id when logged in
    (`token`), or the user waiting for their TOTP code (`pending`, since `pending_at`)."""

    csrf: str
    token: str | None = None
    pending: int | None = None
    pending_at: int = 0


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in user as routes see it (a detached copy: safe after the session closes)."""

    id: int
    login: str
    name: str
    role: str
    institution_id: int | None
    csrf: str
    totp: bool = False  # has a confirmed TOTP second factor

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


def hash_pin(pin: str) -> str:
    """An interviewer's PIN, hashed like a password (its format is checked by the caller)."""
    return _hasher(get_settings().env).hash(pin)


def authenticate_pin(session: Session, login: str, pin: str) -> User:
    """An interviewer's PIN login on a shared tablet (same constant-time behaviour and the same
    per-network limit as the password, applied by the route). Raises AuthError."""
    user = session.exec(select(User).where(User.login == login.strip().lower())).first()
    if user is None or user.pin_hash is None or user.role != Role.interviewer:
        verify_password(_dummy_hash(get_settings().env), pin)
        raise AuthError("Nama pengguna atau PIN salah.")
    if not user.active or not verify_password(user.pin_hash, pin):
        raise AuthError("Nama pengguna atau PIN salah.")
    user.last_login_at = utcnow()
    session.add(user)
    return user


# --- the session cookie and the server-side session -------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="monitor.session")


def read_session(request: Request) -> SessionData | None:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 1000:
        return None
    max_age = get_settings().monitor_session_hours * 3600
    try:
        data = _serializer().loads(raw, max_age=max_age)
        token, pending = data.get("s"), data.get("p")
        return SessionData(csrf=str(data["c"]), token=token if isinstance(token, str) else None,
                           pending=pending if isinstance(pending, int) else None,
                           pending_at=int(data.get("pa", 0)))
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None


def write_session(response: Response, data: SessionData) -> None:
    settings = get_settings()
    payload: dict[str, Any] = {"c": data.csrf}
    if data.token is not None:
        payload["s"] = data.token
    if data.pending is not None:
        payload.update(p=data.pending, pa=data.pending_at)
    response.set_cookie(
        COOKIE, _serializer().dumps(payload), max_age=settings.monitor_session_hours * 3600, path="/",
        httponly=True, secure=settings.public_base_url.startswith("https://"), samesite="lax",
    )


def new_session(user: None = None) -> SessionData:
    """An anonymous session: a fresh CSRF token only."""
    return SessionData(csrf=secrets.token_urlsafe(24))


def start_session(session: Session, user: User, ip: str, *, hours: float | None = None) -> SessionData:
    """Log `user` in: a new server-side session (new id, new CSRF token, so a planted cookie is
    never promoted). Ended sessions of this user older than KEEP_ENDED_DAYS are deleted. `hours`:
    a shorter absolute lifetime than MONITOR_SESSION_HOURS (an interviewer's PIN session)."""
    settings = get_settings()
    now = utcnow()
    token = secrets.token_urlsafe(32)
    before = now - timedelta(days=KEEP_ENDED_DAYS)
    session.exec(delete(MonitorSession).where(
        col(MonitorSession.user_id) == user.id,
        or_(col(MonitorSession.expires_at) < before, col(MonitorSession.revoked_at) < before)))
    session.add(MonitorSession(
        token_hash=hash_token(token), user_id=user.id, created_at=now, last_seen_at=now,  # type: ignore[arg-type]
        expires_at=now + timedelta(hours=min(hours or settings.monitor_session_hours,
                                             settings.monitor_session_hours)), ip=ip[:45],
    ))
    return SessionData(csrf=secrets.token_urlsafe(24), token=token)


def pending_session(user: User) -> SessionData:
    """The right password of a user with a second factor: waiting for their TOTP code."""
    return SessionData(csrf=secrets.token_urlsafe(24), pending=user.id, pending_at=int(time.time()))


def pending_user_id(data: SessionData | None) -> int | None:
    """The user waiting for their TOTP code, if that wait has not run out."""
    if data is None or data.pending is None or time.time() - data.pending_at > PENDING_SECONDS:
        return None
    return data.pending


def end_session(data: SessionData | None) -> None:
    """Logout: this cookie's session stops working (replayed later, it is anonymous)."""
    if data is None or data.token is None:
        return
    with session_scope(write=True) as session:
        session.exec(update(MonitorSession)
                     .where(col(MonitorSession.token_hash) == hash_token(data.token),
                            col(MonitorSession.revoked_at).is_(None))
                     .values(revoked_at=utcnow()))


def end_all_sessions(session: Session, user_id: int | None) -> None:
    """Every session of this user stops working (password changed, user disabled)."""
    session.exec(update(MonitorSession)
                 .where(col(MonitorSession.user_id) == user_id, col(MonitorSession.revoked_at).is_(None))
                 .values(revoked_at=utcnow()))


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


def load_user(data: SessionData | None, *, touch: bool = True) -> CurrentUser | None:
    """The user of this cookie's session, if that session is live: not ended, not past its
    absolute or idle expiry, its user active. Marks it seen (at most every TOUCH_SECONDS) unless
    `touch` is False (a request the page makes by itself, see PASSIVE)."""
    if data is None or data.token is None:
        return None
    settings = get_settings()
    now = utcnow()
    with session_scope() as session:
        found = session.exec(
            select(MonitorSession, User).join(User, col(User.id) == MonitorSession.user_id)
            .where(col(MonitorSession.token_hash) == hash_token(data.token))
        ).first()
        if found is None:
            return None
        row, user = found
        seen = as_utc(row.last_seen_at)  # type: ignore[arg-type]
        if (row.revoked_at is not None or not user.active
                or as_utc(row.expires_at) <= now  # type: ignore[arg-type]
                or seen + timedelta(minutes=settings.monitor_session_idle_minutes) <= now):
            return None
        current = CurrentUser(
            id=user.id,  # type: ignore[arg-type]
            login=user.login, name=user.name, role=user.role,
            institution_id=user.institution_id, csrf=data.csrf, totp=user.totp_enabled_at is not None,
        )
    if touch and (now - seen).total_seconds() >= TOUCH_SECONDS:
        with session_scope(write=True) as session:
            session.exec(update(MonitorSession)
                         .where(col(MonitorSession.id) == row.id, col(MonitorSession.revoked_at).is_(None))
                         .values(last_seen_at=now))
    return current


def require_user(role: str = Role.viewer) -> Callable[[Request], Awaitable[CurrentUser]]:
    """FastAPI dependency: the logged-in user with at least `role`.

    Anonymous → 303 to the login page; too low a role → 403; non-GET requests also need a valid
    CSRF token.
    """
    needed = _RANK[Role(role)]

    async def dependency(request: Request) -> CurrentUser:
        data = read_session(request)
        user = load_user(data, touch=not PASSIVE.match(request.url.path))
        if user is None:
            raise _login_redirect(request)
        if (user.is_admin and not user.totp and get_settings().monitor_admin_totp_required
                and not request.url.path.startswith(ENROL_PATHS)):
            raise HTTPException(303, "Aktifkan verifikasi dua langkah terlebih dahulu.",
                                headers={"Location": ENROL_PATHS[0]})
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
