"""HTTP routes of integrity."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
