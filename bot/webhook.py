"""The Twilio inbound webhook as a lean ASGI endpoint: read the form, check the signature, hand the
form to the inbox's group commit, answer empty TwiML.

A burst of 100 webhooks arrives together and is served by one event loop: every bit of CPU per
webhook adds to the last one's response time. So this endpoint skips FastAPI's dependency
injection, its multipart-capable form parser and the per-request `RequestValidator` (which parses
the URL and signs it twice): the form is one `parse_qsl`, the two URLs Twilio may have signed are
computed once per path, and the second HMAC is only computed when the first does not match.
Deciding the reply is not started from here: the inbox wakes the bot's decider thread(s) after
each stored batch (no thread-pool hop per webhook).

The signature is Twilio's documented scheme (HMAC-SHA1 of the URL followed by every POST field's
name and value, sorted by name; base64), checked against PUBLIC_BASE_URL + path (+ query), with and
without the default port as Twilio's own validator does. `tests/bot/test_webhook.py` checks it
against the twilio library's `RequestValidator`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from bot import inbox, spool
from bot.service import answering
from core.config import get_settings
from dispatch import parse_twilio_form as parse_form
from dispatch import parse_twilio_inbound as parse_inbound
from dispatch import twilio_public_url as public_url
from dispatch import verify_twilio_signature as verify

log = logging.getLogger("spibot.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 256 * 1024  # a Twilio form is a few KB; a 4,096-character body ~36 KB encoded
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
FORBIDDEN = b'{"detail":"invalid signature"}'
SPOOL_FAILED = b'{"detail":"temporarily unable to store the message, please retry"}'
FORM_TYPE = b"application/x-www-form-urlencoded"


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None when it is larger than MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _multipart_form(scope: Scope, body: bytes) -> dict[str, str]:
    """Any other content type (Twilio never sends one) goes through Starlette's parser."""
    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(scope, replay).form()
    return {name: str(value) for name, value in form.multi_items()}


async def handle_inbound(scope: Scope, receive: Receive, send: Send) -> None:
    """POST /twilio/inbound: store the message once per MessageSid, answer empty TwiML at once.

    403 (logged without the body) for a missing or wrong signature; 413 for a body over
    MAX_BODY_BYTES. A retried webhook (same MessageSid) is answered 200 and never replied to twice.
    Counted in `answering` until its response is sent: deciding replies waits meanwhile.
    """
    answering.add(1)
    try:
        await _handle(scope, receive, send)
    finally:
        answering.add(-1)


async def _handle(scope: Scope, receive: Receive, send: Send) -> None:
    content_type = signature_header = b""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"x-twilio-signature":
            signature_header = value
    body = await _read_body(receive)
    if body is None:
        await _respond(send, 413, b'{"detail":"too large"}', b"application/json")
        return
    if content_type.split(b";", 1)[0].strip().lower() == FORM_TYPE:
        form = parse_form(body)
    else:
        form = await _multipart_form(scope, body)
    url = public_url(scope["path"], scope.get("query_string", b"").decode("latin-1"))
    if not verify(url, form, signature_header, get_settings().twilio_auth_token):
        log.warning("rejected webhook with a bad signature on %s", scope["path"])
        await _respond(send, 403, FORBIDDEN, b"application/json")
        return
    if spool.has_entries():  # spooled messages wait: this one goes behind them, in order
        await _spool(send, form)
        return
    try:
        await asyncio.wrap_future(inbox.submit(parse_inbound(form)))
    except spool.UNREACHABLE as exc:
        log.warning("database cannot store now (%s: %.200s): inbound message spooled",
                    type(exc).__name__, getattr(exc, "orig", exc))
        await _spool(send, form)
        return
    await _respond(send, 200, EMPTY_TWIML, b"application/xml")


async def _spool(send: Send, form: dict[str, str]) -> None:
    """Keep the message on local disk (bot.spool) and answer 200, or 503 when the disk cannot
    take it (Twilio tries again later); then have the drainer store it once the database is up."""
    try:
        await asyncio.to_thread(spool.put, form)
    except OSError as exc:
        log.error("inbound message neither stored nor spooled (%s: %s): answered 503",
                  type(exc).__name__, exc.strerror or exc)
        await _respond(send, 503, SPOOL_FAILED, b"application/json")
        return
    finally:
        spool.kick()
    await _respond(send, 200, EMPTY_TWIML, b"application/xml")


class InboundEndpoint:
    """`handle_inbound` as an ASGI app (Starlette wraps plain functions as request -> response)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await handle_inbound(scope, receive, send)


twilio_inbound = InboundEndpoint()
