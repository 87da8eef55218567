"""What a channel is: `async send(message) -> SendResult`, in our own types.

Exceptions (every provider error is turned into one of these; nothing vendor-specific escapes):

    ChannelError
    ├── RetryableError      timeouts, 5xx, provider busy -> back off with jitter, bounded attempts
    │   ├── RateLimitedError    429 / 20429 / 63018 -> also slow the sender down
    │   └── AmbiguousError      the provider may have accepted it (timeout after sending):
    │                           reconcile by status lookup, never resend blindly
    └── PermanentError      this address cannot be reached on this channel (21211, 63024, 63003...)
        └── OptedOutError       the person unsubscribed (21610)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ChannelError(Exception):
    error_class = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RetryableError(ChannelError):
    error_class = "retryable"


class RateLimitedError(RetryableError):
    error_class = "rate_limited"


class AmbiguousError(RetryableError):
    error_class = "ambiguous"


class PermanentError(ChannelError):
    error_class = "permanent"


class OptedOutError(PermanentError):
    error_class = "opted_out"


@dataclass(frozen=True)
class OutMessage:
    """One message ready to go out; built by the worker from an outbox row."""

    outbox_id: int
    channel: str  # whatsapp | email
    to: str  # E.164 phone or email address
    sender: str
    template: str | None = None  # invitation | reminder | ...
    variables: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # free-form text (WhatsApp replies inside the 24-hour window)
    content_sid: str | None = None
    content_variables: str | None = None  # JSON, with content_sid
    subject: str | None = None
    text: str | None = None  # email plain text
    html: str | None = None  # email html
    message_id: str | None = None  # email Message-ID, stable per outbox row
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    status: str  # sent | delivered (the sandbox delivers at once)
    backend: str


@dataclass(frozen=True)
class ProviderMessage:
    """A message as the provider reports it (for reconciling an expired lease)."""

    provider_id: str
    status: str  # our Status value
    created_at: datetime | None
    error_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    backend: str

    async def send(self, message: OutMessage) -> SendResult: ...

    async def lookup(self, to: str, sender: str, since: datetime) -> list[ProviderMessage] | None:
        """Messages the provider holds to `to` from `sender` since `since`; None if it cannot tell."""
        ...

    async def close(self) -> None: ...


# --- classification of provider error codes ------------------------------------------------------

RATE_LIMIT_CODES = {"20429", "63018"}
OPTED_OUT_CODES = {"21610"}
PERMANENT_CODES = {
    "21211",  # invalid 'To' number
    "21614",  # not a mobile number
    "63024",  # invalid message recipient: not on WhatsApp
    "63003",  # channel could not find the To address
    "21408",  # permission to send to this region not enabled
    "63032",  # user's WhatsApp account is not eligible
}
# Failures that say nothing about the recipient (our configuration or template): retry is useless,
# but the person is not unreachable either.
CONFIG_CODES = {"63016", "63027", "21606", "21703", "20003", "21656"}


def classify_twilio(status: int | None, code: int | str | None, message: str) -> ChannelError:
    code_s = str(code) if code is not None else None
    if code_s in RATE_LIMIT_CODES or status == 429:
        return RateLimitedError(message, code=code_s or "429")
    if code_s in OPTED_OUT_CODES:
        return OptedOutError(message, code=code_s)
    if code_s in PERMANENT_CODES:
        return PermanentError(message, code=code_s)
    if code_s in CONFIG_CODES:
        err = ChannelError(message, code=code_s)
        err.error_class = "config"
        return err
    if status is None or status >= 500:
        return RetryableError(message, code=code_s or (str(status) if status else None))
    # any other 4xx: our request is wrong for this recipient; do not hammer the provider
    err = ChannelError(message, code=code_s or str(status))
    err.error_class = "rejected"
    return err


def classify_smtp(code: int | None, message: str) -> ChannelError:
    if code is None:
        return RetryableError(message, code=None)
    if code in (421, 450, 451, 452) or 400 <= code < 500:
        return RetryableError(message, code=str(code))
    if code in (550, 551, 553, 554, 501, 511, 521):
        return PermanentError(message, code=str(code))
    return RetryableError(message, code=str(code))
