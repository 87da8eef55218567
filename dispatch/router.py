"""HTTP routes of dispatch."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
