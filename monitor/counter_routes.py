"""Loket dan poster: counters (loket) per unit with their daily visitors, a poster per counter, guest-book entries per counter."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/pic", tags=["dashboard"])
