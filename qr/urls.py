"""The URLs printed on posters, always built from PUBLIC_BASE_URL (never the Host header)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote, urlencode

from core.config import get_settings

REGISTRATION = "registration"
GUESTBOOK = "guestbook"
KINDS = (REGISTRATION, GUESTBOOK)


def _base() -> str:
    return get_settings().public_base_url.rstrip("/")


def registration_url(institution_code: str, unit_code: str, counter: str | None = None) -> str:
    url = f"{_base()}/daftar/{quote(institution_code, safe='')}/{quote(unit_code, safe='')}"
    return f"{url}?{urlencode({'loket': counter})}" if counter else url


def guestbook_url(institution_code: str, unit_code: str, counter: str | None = None) -> str:
    url = f"{_base()}/bukutamu/{quote(institution_code, safe='')}/{quote(unit_code, safe='')}"
    return f"{url}?{urlencode({'loket': counter})}" if counter else url


def target_url(kind: str, institution_code: str, unit_code: str, counter: str | None) -> str:
    if kind == GUESTBOOK:
        return guestbook_url(institution_code, unit_code, counter)
    return registration_url(institution_code, unit_code, counter)


def short_url(code: str) -> str:
    return f"{_base()}/p/{code}"


def short_code(kind: str, institution_code: str, unit_code: str, counter: str | None,
               length: int = 8) -> str:
    """A short, stable code for a poster target: lower-case base32 of an HMAC (no 0/1/8/9)."""
    key = get_settings().secret_key.encode()
    msg = f"{kind}|{institution_code}|{unit_code}|{counter or ''}".encode()
    digest = hmac.new(key, msg, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:length]
