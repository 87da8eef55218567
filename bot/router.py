"""HTTP routes of the bot: the signed Twilio inbound webhook and the sandbox WhatsApp simulator."""

from __future__ import annotations

import threading
from contextlib import nullcontext

from fastapi import APIRouter, Depends, Response

from bot.sandbox_pages import router as sandbox_router
from bot.service import receive
from core.config import get_settings
from core.db import session_scope
from dispatch.twilio_webhooks import verified_form

router = APIRouter()
router.include_router(sandbox_router)

_SQLITE_WRITES = threading.Lock()
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post("/twilio/inbound", tags=["twilio"], include_in_schema=False)
def twilio_inbound(form: dict[str, str] = Depends(verified_form)) -> Response:  # noqa: B008
    """Store the message once per MessageSid and enqueue the reply on the priority lane.

    Answers at once with empty TwiML: the reply itself goes through the outbox, so a retried
    webhook (same MessageSid) is acknowledged without a second reply.
    """
    # On SQLite, threads of this process queue on a Python lock rather than in SQLite's busy
    # handler, whose growing sleeps (up to 100 ms each) wreck latency under a burst of webhooks.
    lock = _SQLITE_WRITES if get_settings().is_sqlite else nullcontext()
    with lock, session_scope(write=True) as session:
        receive(session, form)
    return Response(EMPTY_TWIML, media_type="application/xml")
