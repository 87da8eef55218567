"""Error answers: a small Indonesian HTML page (templates/errors/error.html) on the pages people
open in a browser, JSON where a program asks (anything under /api, the provider webhooks, `.json`).

`install_error_pages(app)` (web.create_app calls it) replaces FastAPI's JSON answers to
HTTPException (404, 403, 405, 400, 429 ...), to a request that fails validation (422, e.g. a
path id that is not a number: /pic/c/abc) and to an unhandled error (500). A 500 is answered
outside the security middleware (Starlette's outermost error middleware sends it), so that page
carries the security headers itself.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from core.security import security_headers
from core.templating import render

log = logging.getLogger(__name__)

# Pages people open in a browser: an error there is an HTML page.
BROWSER_PREFIXES = ("/pic", "/s/", "/daftar", "/bukutamu", "/p/", "/laporan", "/sandbox", "/berhenti",
                    "/qr/", "/unggah/")
# Programs: an error there stays JSON (FastAPI's {"detail": ...}).
JSON_PREFIXES = ("/api", "/twilio/", "/healthz")

HEADINGS = {
    400: "Permintaan tidak dapat diproses",
    401: "Perlu masuk terlebih dahulu",
    403: "Akses ditolak",
    404: "Halaman tidak ditemukan",
    405: "Permintaan tidak dapat diproses",
    409: "Permintaan tidak dapat diproses",
    413: "Isian terlalu panjang",
    422: "Alamat atau isian tidak valid",
    429: "Terlalu banyak percobaan",
    500: "Terjadi kesalahan",
}
MESSAGES = {
    400: "Mohon maaf, permintaan Anda tidak dapat diproses. Periksa kembali lalu coba lagi.",
    401: "Silakan masuk terlebih dahulu, lalu buka kembali halaman ini.",
    403: "Mohon maaf, Anda tidak memiliki akses ke halaman ini.",
    404: "Mohon maaf, halaman yang Anda cari tidak ada. Periksa kembali alamatnya.",
    405: "Mohon maaf, halaman ini tidak dapat dibuka dengan cara tersebut.",
    413: "Mohon maaf, isian terlalu panjang. Periksa kembali lalu coba lagi.",
    422: "Mohon maaf, alamat atau isian tidak valid. Periksa kembali alamatnya.",
    429: "Mohon maaf, terlalu banyak percobaan. Silakan coba lagi beberapa menit lagi.",
    500: "Mohon maaf, terjadi kesalahan di sistem kami. Silakan coba lagi beberapa saat lagi.",
}
GENERIC = "Mohon maaf, permintaan Anda tidak dapat diproses."


def wants_html(request: Request) -> bool:
    """A browser page (HTML error) or a program (JSON error), by the path first, then Accept."""
    path = request.url.path
    if path.startswith(JSON_PREFIXES) or path.endswith(".json"):
        return False
    if path.startswith(BROWSER_PREFIXES):
        return True
    return "text/html" in request.headers.get("accept", "")


def _message(status: int, detail: Any) -> str:
    """The route's own (Indonesian) detail when it gave one; else the standard text. Starlette's
    default detail is the English reason phrase: never shown."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    if isinstance(detail, str) and detail and detail != phrase:
        return detail
    return MESSAGES.get(status, GENERIC)


def error_page(request: Request, status: int, detail: Any = None,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    home = "/pic" if request.url.path.startswith(("/pic", "/laporan")) else ""
    body = render("errors/error.html", status=status, heading=HEADINGS.get(status, HEADINGS[400]),
                  message=_message(status, detail), home=home)
    return HTMLResponse(body, status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    if wants_html(request):
        return error_page(request, exc.status_code, exc.detail, headers)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if wants_html(request):
        return error_page(request, 422)
    return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def server_error(request: Request, exc: Exception) -> Response:
    """An unhandled error (logged by the server as well): sent outside the security middleware,
    so the headers are added here."""
    headers = dict((k.decode(), v.decode()) for k, v in
                   security_headers(request.url.path, request.url.scheme))
    if wants_html(request):
        response: Response = error_page(request, 500, None, headers)
    elif request.url.path.startswith(JSON_PREFIXES) or request.url.path.endswith(".json"):
        response = JSONResponse({"detail": "Internal Server Error"}, status_code=500, headers=headers)
    else:
        response = PlainTextResponse("Internal Server Error", status_code=500, headers=headers)
    return response


def install_error_pages(app: Any) -> None:
    """Register the handlers on a FastAPI app."""
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
