"""Security headers on every response, and rate limits for the public endpoints.

`install_security(app)` adds one pure-ASGI middleware (web.create_app calls it) that:
- sets the security headers on every HTTP response: a CSP allowing the app's own scripts and
  styles (inline styles are used by the pages; inline scripts are not allowed), nosniff,
  Referrer-Policy no-referrer (personal link tokens are in URLs), X-Frame-Options DENY, a
  Permissions-Policy, HSTS when the request or PUBLIC_BASE_URL is https, and `no-store` on the
  personal-link pages (/s/...) and registration (/daftar/...);
- limits token guessing: an IP whose requests to /s/... got too many 404s in the window receives
  429 on /s/... until the window passes (TOKEN_MISS_LIMIT per TOKEN_MISS_WINDOW_SECONDS). The
  404s are counted in `core.ratewindow.rate_window()`: shared by every web worker and machine
  when REDIS_URL is set, per process otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from core.config import get_settings
from core.ratewindow import RateWindow, count_async, hit_async, rate_window

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
NO_STORE_PREFIXES = ("/s/", "/daftar")
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


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


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
        path: str = scope.get("path", "")
        headers = list(BASE_HEADERS)
        if not path.startswith(CSP_EXEMPT_PREFIXES):
            headers.append((b"content-security-policy", CSP.encode()))
        if self.always_hsts or scope.get("scheme") == "https":
            headers.append(HSTS)
        if path.startswith(NO_STORE_PREFIXES):
            headers.append((b"cache-control", b"no-store"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers(scope)
        names = {name for name, _ in extra}
        window: RateWindow | None = None  # only personal links (/s/...) are counted
        if scope.get("path", "").startswith(TOKEN_PREFIX):
            window = self.window if self.window is not None else rate_window()
        key = f"tok|{client_ip(scope)}"
        if window is not None and await count_async(window, key, self.miss_window) >= self.miss_limit:
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"text/html; charset=utf-8"), (b"retry-after", b"300"), *extra]})
            await send({"type": "http.response.body", "body": TOO_MANY})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if window is not None and message.get("status") == 404:
                    await hit_async(window, key, self.miss_limit, self.miss_window)
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security(app: Any) -> None:
    """Add the security middleware to a FastAPI/Starlette app."""
    app.add_middleware(SecurityMiddleware)
