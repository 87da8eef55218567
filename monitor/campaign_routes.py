"""The campaign lifecycle in the dashboard: close (with a reason), reopen, archive; the purge report."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/pic", tags=["dashboard"])
