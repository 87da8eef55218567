"""HTTP routes of the bot: the signed Twilio inbound webhook and the sandbox WhatsApp simulator."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, BackgroundTasks, Depends, Response

from bot.inbox import writer
from bot.sandbox_pages import router as sandbox_router
from bot.service import kick
from dispatch.twilio_webhooks import verified_form

router = APIRouter()
router.include_router(sandbox_router)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post("/twilio/inbound", tags=["twilio"], include_in_schema=False)
async def twilio_inbound(background: BackgroundTasks,
                         form: dict[str, str] = Depends(verified_form)) -> Response:  # noqa: B008
    """Store the message once per MessageSid and answer at once with empty TwiML.

    The message is stored by the inbox's group commit (the event loop only awaits it, no thread
    per webhook); the reply is decided right after the response (a background task) and goes out
    through the outbox priority lane, so a burst of webhooks is acknowledged in milliseconds, and
    a retried webhook (same MessageSid) never causes a second reply.
    """
    stored = await asyncio.wrap_future(writer.submit(form))
    if stored:
        background.add_task(kick)
    return Response(EMPTY_TWIML, media_type="application/xml")
