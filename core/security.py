"""Security headers on every response, and rate limits for the public endpoints.

`install_security(app)` adds one pure-ASGI middleware (web.create_app calls it) that:
- sets the security headers on every HTTP response: a CSP allowing the app's own scripts and
  styles (inline styles are used by the pages; inline scripts are not allowed), nosniff,
  Referrer-Policy no-referrer (personal link tokens are in URLs), X-Frame-Options DENY, a
  Permissions-Policy, HSTS when the request or PUBLIC_BASE_URL is https, and `no-store` on the
  personal-link pages (/s/...), registration (/daftar/...) and the dashboard (/pic/...);
- refuses (400) a NUL byte or other control character in the path, the query string or a form
  body (urlencoded or multipart) before any route (or the database) sees it, and caps every
  request body at FORM_BODY_LIMIT (413, before reading when Content-Length says so; routes in
  OWN_BODY_LIMIT, the dashboard's file upload, check their own larger cap): no input can make a
  route answer 500, or a worker hold a 200 MB body, that way;
- limits token guessing: an IP whose requests to /s/... got too many 404s in the window gets 429
  instead of each further 404 until the window passes (TOKEN_MISS_LIMIT per
  TOKEN_MISS_WINDOW_SECONDS). Only unknown links count and only they are refused: the route
  looks the link up first, so a valid link always opens, even from an address shared by a whole
  neighbourhood (carrier NAT) where someone mistyped links. The 404s are counted in
  `core.ratewindow.rate_window()`: shared by every web worker and machine when REDIS_URL is
  set, per process otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from core.config import get_settings
from core.ratewindow import RateWindow, hit_async, rate_window

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# The interactive API docs load their own inline script: no CSP there (admin-only tooling).
CSP_EXEMPT_PREFIXES = ("/api/docs", "/api/redoc")
# Personal links, registration, and the dashboard with its exports (names, numbers, emails):
# never kept by a browser or proxy cache.
NO_STORE_PREFIXES = ("/s/", "/daftar", "/pic", "/laporan", "/sandbox", "/unggah/")
CACHEABLE_PREFIXES = ("/pic/static/",)  # the dashboard's own script: no personal data
TOKEN_PREFIX = "/s/"  # noqa: S105 - a path, not a secret
BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
TOO_MANY = (
    b"<!doctype html><html lang=\"id\"><meta charset=\"utf-8\">"
    b"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    b"<title>Terlalu banyak percobaan</title><main style=\"font-family:sans-serif;max-width:32rem;"
    b"margin:2rem auto;padding:0 1rem\"><h1>Terlalu banyak percobaan</h1><p>Mohon maaf, terlalu "
    b"banyak tautan yang tidak dikenal dari jaringan Anda. Silakan coba lagi beberapa menit lagi, "
    b"atau kirim pesan <b>Isi Survei</b> ke nomor WhatsApp SPI untuk menerima tautan Anda.</p></main>"
)


# Provider webhooks carry what a respondent typed (signed by the provider; the bot cleans the
# text): never refused for a stray control character, or the message would be retried and lost.
PROVIDER_WEBHOOKS = ("/twilio/",)
FORM_BODY_LIMIT = 256 * 1024  # bytes of any request body: the longest page of answers is ~10 KB
# Routes that take files and check their own, larger cap before reading (monitor.intake): the PIC's
# upload and a unit's own upload link; the action plan's form and evidence (monitor.actionplan_routes).
OWN_BODY_LIMIT = re.compile(r"^/(pic/c/[^/]+/data/unggah|unggah/[^/]+/berkas"
                            r"|pic/c/[^/]+/rencana-aksi/(impor|aksi/[^/]+/bukti))/?$")
# C0 controls but tab, newline and carriage return (which forms may carry), and DEL.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
BAD_INPUT = (
    b"<!doctype html><html lang=\"id\"><meta charset=\"utf-8\">"
    b"<title>Permintaan tidak dapat diproses</title><main style=\"font-family:sans-serif;"
    b"max-width:32rem;margin:2rem auto;padding:0 1rem\"><h1>Permintaan tidak dapat diproses</h1>"
    b"<p>Mohon maaf, alamat atau isian berisi karakter yang tidak diizinkan, atau terlalu panjang. "
    b"Periksa kembali lalu coba lagi.</p></main>"
)


# In a JSON body: a control character written as an escape (\u0000 ... \u001f but \u0009, \u000a,
# \u000d; and \u007f), not preceded by an escaped backslash ("\\u0000" is the text "\u0000").
_JSON_CONTROL = re.compile(rb"(?<!\\)(?:\\\\)*\\u00(?:0[0-8bcef]|1[0-9a-f]|7f)", re.IGNORECASE)


def json_has_control(body: bytes) -> bool:
    """A control character in a JSON body, raw or as a \\u escape (json.loads would turn it into
    the character itself: a NUL would reach the database)."""
    return _CONTROL.search(body) is not None or _JSON_CONTROL.search(body) is not None


def _is_json(scope: Scope) -> bool:
    kind = _header(scope, b"content-type").lower().split(b";", 1)[0].strip()
    return kind == b"application/json" or kind.endswith(b"+json")


def has_control(raw: bytes) -> bool:
    """A control character in `raw` as it is or percent-decoded (%00, %1b ...)."""
    return bool(_CONTROL.search(raw)) or (b"%" in raw and bool(_CONTROL.search(unquote_to_bytes(raw))))


def _header(scope: Scope, wanted: bytes) -> bytes:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return bytes(value)
    return b""


def _is_urlencoded(scope: Scope) -> bool:
    return _header(scope, b"content-type").lower().startswith(b"application/x-www-form-urlencoded")


def _is_multipart(scope: Scope) -> bool:
    return _header(scope, b"content-type").lower().startswith(b"multipart/form-data")


def _too_long(scope: Scope, limit: int) -> bool:
    """Content-Length says the body is longer than `limit` (refused before reading a byte)."""
    length = _header(scope, b"content-length").strip()
    return length.isdigit() and int(length) > limit


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole request body, or (what was read, True) once it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def security_headers(path: str, scheme: str, always_hsts: bool | None = None) -> list[tuple[bytes, bytes]]:
    """The headers every response to `path` carries (also used by the 500 page, which is sent
    outside this middleware)."""
    if always_hsts is None:
        always_hsts = get_settings().public_base_url.startswith("https://")
    headers = list(BASE_HEADERS)
    if not path.startswith(CSP_EXEMPT_PREFIXES):
        headers.append((b"content-security-policy", CSP.encode()))
    if always_hsts or scheme == "https":
        headers.append(HSTS)
    if path.startswith(NO_STORE_PREFIXES) and not path.startswith(CACHEABLE_PREFIXES):
        headers.append((b"cache-control", b"no-store"))
    return headers


class SecurityMiddleware:
    """`window`, `miss_limit` and `miss_window` default to `rate_window()` (looked up per
    request: made in each worker process) and the TOKEN_MISS_* settings; tests pass their own."""

    def __init__(self, app: ASGIApp, window: RateWindow | None = None,
                 miss_limit: int | None = None, miss_window: float | None = None) -> None:
        self.app = app
        settings = get_settings()
        self.window = window
        self.miss_limit = settings.token_miss_limit if miss_limit is None else miss_limit
        self.miss_window = (settings.token_miss_window_seconds if miss_window is None
                            else miss_window)
        self.always_hsts = settings.public_base_url.startswith("https://")

    def _headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        return security_headers(scope.get("path", ""), scope.get("scheme", ""), self.always_hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers(scope)
        names = {name for name, _ in extra}

        async def refuse(status: int) -> None:
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"text/html; charset=utf-8"), *extra]})
            await send({"type": "http.response.body", "body": BAD_INPUT})

        raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
        if has_control(raw_path) or has_control(scope.get("query_string", b"")):
            await refuse(400)
            return
        path: str = scope.get("path", "")
        if scope.get("method") in ("POST", "PUT", "PATCH") and not OWN_BODY_LIMIT.match(path):
            if _too_long(scope, FORM_BODY_LIMIT):
                await refuse(413)
                return
            body, too_big = await _read_body(receive, FORM_BODY_LIMIT)
            if too_big:
                await refuse(413)
                return
            if not path.startswith(PROVIDER_WEBHOOKS) and (
                    (_is_urlencoded(scope) and has_control(body.replace(b"+", b" ")))
                    or (_is_multipart(scope) and _CONTROL.search(body) is not None)
                    or (_is_json(scope) and json_has_control(body))):
                await refuse(400)
                return
            receive = _replay(body, receive)
        window: RateWindow | None = None  # only personal links (/s/...) are counted
        if scope.get("path", "").startswith(TOKEN_PREFIX):
            window = self.window if self.window is not None else rate_window()
        key = f"tok|{client_ip(scope)}"
        replaced = False  # an unknown link over the limit: its 404 page became the 429 page

        async def send_with_headers(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                if (window is not None and message.get("status") == 404
                        and not await hit_async(window, key, self.miss_limit, self.miss_window)):
                    replaced = True
                    await send({"type": "http.response.start", "status": 429, "headers": [
                        (b"content-type", b"text/html; charset=utf-8"), (b"retry-after", b"300"), *extra]})
                    await send({"type": "http.response.body", "body": TOO_MANY})
                    return
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + extra
            elif replaced:
                return  # the 404 page's body: already answered with the 429 page
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _replay(body: bytes, then: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the server's own (which
    reports the disconnect when it comes)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


def install_security(app: Any) -> None:
    """Add the security middleware to a FastAPI/Starlette app."""
    app.add_middleware(SecurityMiddleware)
