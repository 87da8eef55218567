"""Link tokens: 256-bit, derived from a per-assignment nonce and SECRET_KEY, stored hashed.

The raw token is never stored: only `token_nonce` (useless without SECRET_KEY) and the SHA-256
of the token, as its 32 raw bytes (half the index of its hex text; migration 0002). Reminders and
"Isi Survei" re-sends derive the same token again from the nonce.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterator
from functools import lru_cache
from os import urandom

from core.config import get_settings

_NONCE_BYTES = 16  # a nonce is their 32 hex characters
_SHA256_BLOCK = 64
_URLSAFE = bytes.maketrans(b"+/", b"-_")

_Pads = tuple["hashlib._Hash", "hashlib._Hash"]


def new_nonce() -> str:
    return urandom(_NONCE_BYTES).hex()


@lru_cache(maxsize=8)
def _pads(key: bytes) -> _Pads:
    """HMAC-SHA256's inner and outer hash states once the padded key is hashed (RFC 2104): each
    token then costs two copies and two short updates, less than an `hmac.new` call each."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def _signer(secret_key: str | None) -> _Pads:
    """The pads of `secret_key`, by default SECRET_KEY's (never updated: callers copy them)."""
    return _pads((secret_key or get_settings().secret_key).encode())


def _token(pads: _Pads, nonce: str) -> bytes:
    """The token of `nonce`: base64url, unpadded, of HMAC-SHA256(key, nonce), as ASCII bytes."""
    inner, outer = pads[0].copy(), pads[1].copy()
    inner.update(nonce.encode())
    outer.update(inner.digest())
    return binascii.b2a_base64(outer.digest(), newline=False).translate(_URLSAFE).rstrip(b"=")


def token_for(nonce: str, secret_key: str | None = None) -> str:
    return _token(_signer(secret_key), nonce).decode()


def hash_token(token: str) -> bytes:
    """The stored form of a token: its SHA-256 digest (32 bytes)."""
    return hashlib.sha256(token.encode()).digest()


def new_token_pair() -> tuple[str, bytes]:
    """(nonce, token_hash) for a new assignment."""
    nonce = new_nonce()
    return nonce, hash_token(token_for(nonce))


def token_pairs(count: int, secret_key: str | None = None) -> Iterator[tuple[str, bytes]]:
    """`count` (nonce, token hash) pairs, as `new_token_pair` makes them, for a bulk write (a
    sample draw): the nonces from one `urandom` call, the key's pads looked up once."""
    pads = _signer(secret_key)
    raw = urandom(_NONCE_BYTES * count).hex()
    step, sha256 = 2 * _NONCE_BYTES, hashlib.sha256
    for i in range(0, step * count, step):
        nonce = raw[i:i + step]
        yield nonce, sha256(_token(pads, nonce)).digest()


def survey_url(token: str) -> str:
    """The respondent's personal link, always built from PUBLIC_BASE_URL (never the Host header)."""
    return f"{get_settings().public_base_url.rstrip('/')}/s/{token}"
