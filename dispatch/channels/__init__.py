"""Channels (one adapter per provider behind `base.Channel`), chosen from the settings."""

from __future__ import annotations

from core.config import Settings, get_settings
from dispatch.channels.base import Channel, ChannelError, RejectedError, classify_smtp
from dispatch.channels.sandbox import SandboxChannel
from dispatch.channels.twilio.errors import classify


def make_channel(channel: str, settings: Settings | None = None) -> Channel:
    settings = settings or get_settings()
    if channel == "whatsapp" and settings.whatsapp_backend == "twilio":
        # here, not at the top: only when configured; the Twilio SDK adds ~150 ms to start-up
        from dispatch.channels.twilio.whatsapp import TwilioWhatsAppChannel

        return TwilioWhatsAppChannel(settings)
    if channel == "email" and settings.email_backend == "smtp":
        # here, not at the top: only when configured (aiosmtplib, dkim and bounces add ~45 ms), and
        # dispatch.bounces imports dispatch.outbox, which imports this package (cycle)
        from dispatch.channels.smtp_email import SmtpEmailChannel

        return SmtpEmailChannel(settings)
    return SandboxChannel(channel)


def error_for_code(channel: str, code: str, purpose: str) -> ChannelError:
    """Our error for a failure the provider reported after accepting a message (status callback
    or look-up): the provider's error code, read through that channel's table."""
    if channel == "whatsapp":
        return classify(400, code, "", free_form=purpose == "reply")
    if channel == "email" and code.isdigit():
        return classify_smtp(int(code), f"delivery failed: {code}")
    return RejectedError(f"delivery failed: {code}", code=code)
