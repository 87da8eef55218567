"""Cross-cutting routes: liveness and readiness (core.health)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from core.health import readiness

router = APIRouter()


@router.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    """Alive: the process answers (no database)."""
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"])
def readyz() -> JSONResponse:
    """Ready: database, Redis (when configured) and migrations at head; 503 otherwise."""
    ready, body = readiness()
    return JSONResponse(body, status_code=200 if ready else 503)
