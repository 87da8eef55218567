"""Managing dashboard users (used by `spibot users …` and the admin page). Every change is audited."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from core.audit import record
from core.clock import utcnow
from core.models import Institution
from monitor.auth import AuthError, end_all_sessions, hash_password
from monitor.models import Role, User

_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._@\-]{2,119}$")


def _find(session: Session, login: str) -> User:
    user = session.exec(select(User).where(User.login == login.strip().lower())).first()
    if user is None:
        raise AuthError(f"Pengguna '{login}' tidak ditemukan.")
    return user


def resolve_institution(session: Session, ref: str | int | None) -> int | None:
    """An institution id from an id or a code; None for None/''."""
    if ref is None or ref == "":
        return None
    text = str(ref).strip()
    inst = session.get(Institution, int(text)) if text.isdigit() else None
    if inst is None:
        inst = session.exec(select(Institution).where(Institution.code == text)).first()
    if inst is None:
        raise AuthError(f"Instansi '{text}' tidak ditemukan (berikan kode atau id instansi).")
    return inst.id


def add_user(
    session: Session, *, login: str, password: str, role: str, institution_id: int | None,
    name: str = "", actor: str,
) -> User:
    login = login.strip().lower()
    if not _LOGIN.match(login):
        raise AuthError("Nama pengguna 3-120 karakter: huruf kecil, angka, titik, @, - atau _.")
    if role not in {r.value for r in Role}:
        raise AuthError("Peran harus salah satu dari: admin, pic, viewer.")
    if role != Role.admin and institution_id is None:
        raise AuthError("Pengguna pic/viewer wajib terkait satu instansi.")
    if role == Role.admin:
        institution_id = None
    if session.exec(select(User).where(User.login == login)).first():
        raise AuthError(f"Pengguna '{login}' sudah ada.")
    user = User(
        login=login, name=name.strip()[:200], password_hash=hash_password(password), role=role,
        institution_id=institution_id, created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    record(session, actor, "user.add", institution_id=institution_id, target=login,
           details={"role": role})
    return user


def list_users(session: Session, institution_id: int | None = None) -> list[User]:
    query = select(User).order_by(User.login)
    if institution_id is not None:
        query = query.where(User.institution_id == institution_id)
    return list(session.exec(query))


def set_password(session: Session, login: str, password: str, *, actor: str) -> User:
    user = _find(session, login)
    user.password_hash = hash_password(password)
    user.session_version += 1
    end_all_sessions(session, user.id)  # every existing login of this user ends now
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    record(session, actor, "user.set_password", institution_id=user.institution_id, target=user.login)
    return user


def set_active(session: Session, login: str, active: bool, *, actor: str) -> User:
    user = _find(session, login)
    user.active = active
    user.session_version += 1
    end_all_sessions(session, user.id)  # disabled: logged out everywhere at once
    session.add(user)
    record(session, actor, "user.enable" if active else "user.disable",
           institution_id=user.institution_id, target=user.login)
    return user


def reset_totp(session: Session, login: str, *, actor: str) -> User:
    """Remove a user's second factor (a lost phone): they log in with the password alone and may
    enrol again. Every session of theirs ends."""
    user = _find(session, login)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    end_all_sessions(session, user.id)
    session.add(user)
    record(session, actor, "user.totp_reset", institution_id=user.institution_id, target=user.login)
    return user
