"""Channels (one adapter per provider behind `base.Channel`), chosen from the settings."""

from __future__ import annotations

from core.config import Settings, get_settings
from dispatch.channels.base import Channel, ChannelError, RejectedError, classify_smtp


def make_channel(channel: str, settings: Settings | None = None) -> Channel:
    settings = settings or get_settings()
    if channel == "whatsapp" and settings.whatsapp_backend == "twilio":
        from dispatch.channels.twilio.whatsapp import TwilioWhatsAppChannel

        return TwilioWhatsAppChannel(settings)
    if channel == "email" and settings.email_backend == "smtp":
        from dispatch.channels.smtp_email import SmtpEmailChannel

        return SmtpEmailChannel(settings)
    from dispatch.channels.sandbox import SandboxChannel

    return SandboxChannel(channel)


def error_for_code(channel: str, code: str, purpose: str) -> ChannelError:
    """Our error for a failure the provider reported after accepting a message (status callback
    or look-up): the provider's error code, read through that channel's table."""
    if channel == "whatsapp":
        from dispatch.channels.twilio.errors import classify

        return classify(400, code, "", free_form=purpose == "reply")
    if channel == "email" and code.isdigit():
        return classify_smtp(int(code), f"delivery failed: {code}")
    return RejectedError(f"delivery failed: {code}", code=code)
