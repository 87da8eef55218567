"""HTTP routes of population."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
