"""HTTP routes of bot."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
