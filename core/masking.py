"""Mask personal data before it reaches a log line."""

from __future__ import annotations

import logging
import re

# International numbers written with "+", and Indonesian mobiles written 08…/628… — but not
# timestamps, ids or amounts (a log line's "2026-11-21 19:40" must survive).
_PHONE = re.compile(r"(?<![\w+])(\+\d[\d\s\-]{6,16}\d|(?:62|0)8\d[\d\-]{6,13}\d)(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+)")
# Personal link tokens in URLs (/s/<token>): whoever reads the log could open the questionnaire.
_TOKEN = re.compile(r"(/s/)[A-Za-z0-9_\-]{16,}")
# The same data URL-encoded (a query string logged by an HTTP client: To=whatsapp%3A%2B62812...)
# or JSON-escaped (\u002b62812..., \u0040): "+" and "@" in their encoded forms.
_ENCODED_PHONE = re.compile(r"(%2[Bb]|\\u002[Bb])(\d{7,15})(?!\d)")
_ENCODED_EMAIL = re.compile(r"([A-Za-z0-9._\-])[A-Za-z0-9._%+\-]*?(%40|\\u0040)([A-Za-z0-9.\-]+)")
# Third-party clients that log whole requests (with numbers in their URLs) at INFO/DEBUG.
QUIET_LOGGERS = ("twilio", "httpx", "httpcore", "aiohttp", "urllib3", "aiosmtplib", "apscheduler")


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    digits = phone.removeprefix("whatsapp:")
    return digits[:5] + "*" * max(len(digits) - 8, 3) + digits[-3:] if len(digits) > 8 else "***"


def mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local_part, domain = email.split("@", 1)
    return f"{local_part[:1]}***@{domain}"


def mask_text(text: str) -> str:
    text = _TOKEN.sub(r"\1***", text)
    text = _ENCODED_PHONE.sub(lambda m: m.group(1) + mask_phone(m.group(2)), text)
    text = _ENCODED_EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}{m.group(3)}", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: mask_phone(re.sub(r"[\s\-]", "", m.group(1))), text)


class MaskingFilter(logging.Filter):
    """Installed on every handler: no phone number or email reaches a log line in clear."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True


def configure_logging(level: str = "INFO", fmt: str | None = None) -> None:
    """`fmt`: "text" or "json" (default: LOG_FORMAT); core.logs adds the request id."""
    from core.config import get_settings
    from core.logs import RequestIdFilter, formatter  # here: core.logs imports this module

    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter(fmt or get_settings().log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The scheduler logs every run of every job at INFO, and HTTP clients log whole request URLs
    # (with the recipient's number in them): keep their warnings only.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
