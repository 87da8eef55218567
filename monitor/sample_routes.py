"""Sampel actions: the sample plan before the draw, the confirmed draw, reserves called with a reason and undone before their invitation goes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/pic", tags=["dashboard"])
