"""What a channel is: `async send(message) -> SendResult`, in our own types.

Every provider answer is turned into one of these errors (nothing vendor-specific escapes); its
`action` says what the worker does next:

    ChannelError
    ├── RetryableError        retry       timeouts, 5xx, provider busy: back off with jitter
    │   ├── RateLimitedError  rate_limited  429 / 20429: also slow the sender down
    │   └── AmbiguousError    (retry)     the provider may have accepted it (timeout after
    │                                     sending): reconcile by status look-up, never resend blindly
    ├── DeferredError         defer       the WhatsApp messaging limit (63018): pending until the
    │                                     rolling 24-hour window frees; not a failure, no attempt used
    ├── MarketingLimitError   marketing   Meta held a marketing message back (63049): retry hours
    │                                     later, growing; then the other channel
    ├── FallbackError         fallback    not on this channel now (63032): the other channel at once;
    │                                     the address stays reachable
    ├── HoldError             hold        our configuration is wrong for everyone (placeholder
    │                                     ContentSid, paused template, account limit): stop the
    │                                     sender's bulk lane, keep rows pending, alert an admin
    ├── RejectedError         rejected    refused for this message only: failed, address kept
    └── PermanentError        unreachable this address cannot be reached on this channel
        └── OptedOutError     opted_out   the person unsubscribed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from core.errors import SpibotError


class Action(StrEnum):
    """What the worker does with a message after an error (see the module docstring)."""

    retry = "retry"
    rate_limited = "rate_limited"
    defer = "defer"
    marketing = "marketing"
    fallback = "fallback"
    hold = "hold"
    rejected = "rejected"
    unreachable = "unreachable"
    opted_out = "opted_out"


class ChannelError(SpibotError):
    error_class = "error"
    action = Action.rejected

    def __init__(self, message: str, *, code: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # the provider's own code, for logs and admins
        # Why, in our own neutral words (not_whatsapp, template_paused ...): what a failed row's
        # error_class and a hold's code carry, so nothing outside the adapter reads provider codes.
        self.reason = reason or self.error_class


class RetryableError(ChannelError):
    error_class = "retryable"
    action = Action.retry


class RateLimitedError(RetryableError):
    error_class = "rate_limited"
    action = Action.rate_limited


class AmbiguousError(RetryableError):
    error_class = "ambiguous"


class DeferredError(ChannelError):
    error_class = "deferred"
    action = Action.defer


class MarketingLimitError(ChannelError):
    error_class = "marketing_limit"
    action = Action.marketing


class FallbackError(ChannelError):
    error_class = "fallback"
    action = Action.fallback


class HoldError(ChannelError):
    error_class = "config"
    action = Action.hold


class RejectedError(ChannelError):
    error_class = "rejected"
    action = Action.rejected


class ContentError(ChannelError):
    """The message could not be built from its row (a template or variable is missing)."""

    error_class = "content"
    action = Action.rejected


class PermanentError(ChannelError):
    error_class = "permanent"
    action = Action.unreachable


class OptedOutError(PermanentError):
    error_class = "opted_out"
    action = Action.opted_out


_ERROR_OF_ACTION: dict[Action, type[ChannelError]] = {
    Action.retry: RetryableError, Action.rate_limited: RateLimitedError, Action.defer: DeferredError,
    Action.marketing: MarketingLimitError, Action.fallback: FallbackError, Action.hold: HoldError,
    Action.rejected: RejectedError, Action.unreachable: PermanentError, Action.opted_out: OptedOutError,
}


def error_for(action: Action, message: str, code: str | None, reason: str | None = None) -> ChannelError:
    return _ERROR_OF_ACTION[action](message, code=code, reason=reason)


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
class Incoming:
    """A message a respondent sent us, in our own terms (whatever the provider's webhook looked
    like): what the bot, the WhatsApp simulator and `spibot bot chat` all hand to the bot."""

    sid: str  # the provider's message id: a message is handled once per sid ("" = unusable)
    sender: str  # as received, e.g. "whatsapp:+6281234567890" (normalised by the bot)
    to: str = ""
    body: str = ""  # the text, or the text of a pressed button
    num_media: int = 0
    media: bool = False  # a picture, voice note, location, sticker ... (no text to read)


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


# --- SMTP replies ------------------------------------------------------------------------------

# SMTP reply codes (RFC 5321) with a reason of their own; any other: the error's class.
SMTP_REASONS = {452: "mailbox_full", 552: "mailbox_full", 550: "no_mailbox", 551: "no_mailbox",
                553: "invalid_email"}


def classify_smtp(code: int | None, message: str) -> ChannelError:
    if code is None:
        return RetryableError(message, code=None)
    reason = SMTP_REASONS.get(code)
    if code in (421, 450, 451, 452) or 400 <= code < 500:
        return RetryableError(message, code=str(code), reason=reason)
    if code in (550, 551, 553, 554, 501, 511, 521):
        return PermanentError(message, code=str(code), reason=reason)
    return RetryableError(message, code=str(code), reason=reason)
