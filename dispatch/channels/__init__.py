"""Channels (one adapter per provider behind `base.Channel`), chosen from the settings."""

from __future__ import annotations

from core.config import Settings, get_settings
from dispatch.channels.base import Channel


def make_channel(channel: str, settings: Settings | None = None) -> Channel:
    settings = settings or get_settings()
    if channel == "whatsapp" and settings.whatsapp_backend == "twilio":
        from dispatch.channels.twilio_whatsapp import TwilioWhatsAppChannel

        return TwilioWhatsAppChannel(settings)
    if channel == "email" and settings.email_backend == "smtp":
        from dispatch.channels.smtp_email import SmtpEmailChannel

        return SmtpEmailChannel(settings)
    from dispatch.channels.sandbox import SandboxChannel

    return SandboxChannel(channel)
