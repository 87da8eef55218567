"""HTTP routes of the bot: the signed Twilio inbound webhook and the sandbox WhatsApp simulator."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import Route

from bot.sandbox_pages import router as sandbox_router
from bot.webhook import twilio_inbound

router = APIRouter()
router.include_router(sandbox_router)
# A plain ASGI endpoint, not a FastAPI route: see bot/webhook.py (CPU per webhook under a burst).
router.routes.append(Route("/twilio/inbound", twilio_inbound, methods=["POST"], include_in_schema=False))
