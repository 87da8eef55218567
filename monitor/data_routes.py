"""Kumpulkan data: the campaign's units, their population files (drag-and-drop upload with preview, quality report, fix lists), the deadline; creating a campaign and (admin) an institution."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/pic", tags=["dashboard"])
