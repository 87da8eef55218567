"""WhatsApp through Twilio's Messages API with the real (async) twilio client.

Templates go as ContentSid + ContentVariables (business-initiated, outside the 24-hour window);
free-form Body only for replies inside the window. No Twilio object leaves this module.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from core.clock import as_utc
from core.config import Settings, get_settings
from dispatch.channels.base import (
    AmbiguousError,
    OutMessage,
    ProviderMessage,
    RetryableError,
    SendResult,
)
from dispatch.channels.twilio.errors import classify

TWILIO_STATUS = {
    "accepted": "sent", "scheduled": "sent", "queued": "sent", "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "read", "failed": "failed", "undelivered": "failed",
    "canceled": "failed", "receiving": "sent", "received": "sent",
    # Some parts of a multi-part message arrived, not all: accepted, not confirmed delivered.
    "partially_delivered": "sent",
}


def wa(address: str) -> str:
    return address if address.startswith("whatsapp:") else f"whatsapp:{address}"


def make_client(settings: Settings, http_client: object | None = None) -> Client:
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)
    if settings.twilio_api_base_url:
        base = settings.twilio_api_base_url.rstrip("/")
        client.api.base_url = base
        client.content.base_url = base
    return client


class TwilioWhatsAppChannel:
    backend = "twilio"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.http = AsyncTwilioHttpClient(timeout=self.settings.twilio_timeout_seconds)
        self.client = make_client(self.settings, self.http)
        self.status_callback = self.settings.public_base_url.rstrip("/") + "/twilio/status"

    async def send(self, message: OutMessage) -> SendResult:
        kwargs: dict[str, object] = {
            "to": wa(message.to), "from_": wa(message.sender), "status_callback": self.status_callback,
        }
        if message.content_sid:
            kwargs["content_sid"] = message.content_sid
            kwargs["content_variables"] = message.content_variables or "{}"
        else:
            kwargs["body"] = message.body
        try:
            # The async twilio client ignores its own timeout: enforce it here (asyncio.timeout,
            # unlike wait_for, does not wrap each request in another task).
            async with asyncio.timeout(self.settings.twilio_timeout_seconds):
                msg = await self.client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            raise classify(exc.status, exc.code, exc.msg or str(exc), free_form=not message.content_sid) from None
        except TwilioServiceException as exc:  # RFC 9457 problem details (newer Twilio APIs)
            raise classify(exc.status, exc.code, exc.detail or exc.title,
                           free_form=not message.content_sid) from None
        except (TimeoutError, aiohttp.ServerDisconnectedError) as exc:
            # The request may have reached Twilio: look it up later, never resend blindly.
            raise AmbiguousError(f"no answer from Twilio: {type(exc).__name__}", code="timeout") from None
        except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
            raise RetryableError(f"cannot connect to Twilio: {exc}", code="connect") from None
        except (aiohttp.ClientError, TwilioException) as exc:
            raise AmbiguousError(f"Twilio request failed: {type(exc).__name__}", code="http") from None
        return SendResult(provider_id=str(msg.sid), status="sent", backend=self.backend)

    async def lookup(self, to: str, sender: str, since: datetime) -> list[ProviderMessage] | None:
        try:
            found = await asyncio.wait_for(
                self.client.messages.list_async(to=wa(to), from_=wa(sender), limit=50),
                self.settings.twilio_timeout_seconds * 3)
        except (TwilioException, aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"Twilio lookup failed: {type(exc).__name__}") from None
        out = []
        floor = since - timedelta(seconds=60)  # clock skew between us and the provider
        for m in found:
            created = as_utc(m.date_created) if m.date_created else None
            if created is not None and created < floor:
                continue
            out.append(ProviderMessage(
                provider_id=str(m.sid), status=TWILIO_STATUS.get(str(m.status), "sent"),
                created_at=created, error_code=str(m.error_code) if m.error_code else None))
        return out

    async def close(self) -> None:
        await self.http.close()
