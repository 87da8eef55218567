"""Luncurkan: the preflight and the send plan of the invitation wave, launched with one confirmed click."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/pic", tags=["dashboard"])
