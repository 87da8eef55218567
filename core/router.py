"""Cross-cutting routes: health."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from core.db import session_scope

router = APIRouter()


@router.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    with session_scope() as session:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok"}
