"""Link tokens: 256-bit, derived from a per-assignment nonce and SECRET_KEY, stored hashed.

The raw token is never stored: only `token_nonce` (useless without SECRET_KEY) and the SHA-256
of the token, as its 32 raw bytes (half the index of its hex text; migration 0002). Reminders and "Isi Survei" re-sends derive the same token again from the nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from core.config import get_settings


def new_nonce() -> str:
    return secrets.token_hex(16)


def token_for(nonce: str, secret_key: str | None = None) -> str:
    key = (secret_key or get_settings().secret_key).encode()
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> bytes:
    """The stored form of a token: its SHA-256 digest (32 bytes)."""
    return hashlib.sha256(token.encode()).digest()


def new_token_pair() -> tuple[str, bytes]:
    """(nonce, token_hash) for a new assignment."""
    nonce = new_nonce()
    return nonce, hash_token(token_for(nonce))


def survey_url(token: str) -> str:
    """The respondent's personal link, always built from PUBLIC_BASE_URL (never the Host header)."""
    return f"{get_settings().public_base_url.rstrip('/')}/s/{token}"
