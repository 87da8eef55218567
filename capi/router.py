"""The interviewer app's static files (`/capi/`): the PWA shell, its script, service worker and
manifest. No data and no login here: everything personal comes from the API (monitor.capi_routes)
behind the interviewer's session, so the shell may be cached by the service worker."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

router = APIRouter(tags=["capi"])
STATIC = Path(__file__).parent / "static"
# name -> content type: only these files are served (no path from the request reaches the disk).
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
}


def _file(name: str) -> Response:
    if name not in FILES:
        raise HTTPException(404, "Data tidak ditemukan.")
    headers = {"Cache-Control": "no-cache"}  # revalidated when online; the service worker serves offline
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = "/capi/"
    return Response((STATIC / name).read_bytes(), media_type=FILES[name], headers=headers)


@router.get("/capi/", include_in_schema=False)
def shell() -> Response:
    return _file("index.html")


@router.get("/capi/{name}", include_in_schema=False)
def static(name: str) -> Response:
    return _file(name)
