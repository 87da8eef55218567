"""Twilio's webhooks (inbound messages, status callbacks): their signature, and the inbound form
turned into our `Incoming`.

One signature check serves every Twilio webhook: HMAC-SHA1 over the URL Twilio called plus the
sorted form fields, compared in constant time with `X-Twilio-Signature`, accepting the URL with
and without its default port as Twilio's own validator does. Behind a proxy the request's own URL
is the internal address, so the URL Twilio signed is rebuilt from PUBLIC_BASE_URL plus the
request's path and query.
"""

from __future__ import annotations

import base64
import hmac
import logging
from functools import lru_cache
from urllib.parse import parse_qsl, urlparse

from fastapi import HTTPException, Request
from twilio.request_validator import add_port, remove_port

from core.config import get_settings
from dispatch.channels.base import Incoming

log = logging.getLogger("spibot.webhooks")
MEDIA_TYPES = {"image", "video", "audio", "voice", "sticker", "location", "document", "contacts",
               "unsupported", "interactive", "reaction"}
MAX_MEDIA = 100


@lru_cache(maxsize=64)
def signed_urls(url: str) -> tuple[str, ...]:
    """The URL as Twilio may have signed it: as configured first, then without and with the
    default port (Twilio's own validator accepts either)."""
    parsed = urlparse(url)
    return tuple(dict.fromkeys((url, remove_port(parsed), add_port(parsed))))


def signature(token: str, url: str, params: dict[str, str]) -> bytes:
    """Twilio's X-Twilio-Signature of a form POST (one value per field)."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.digest(token.encode(), data.encode("utf-8"), "sha1"))


def verify(url: str, params: dict[str, str], header: bytes | str, token: str) -> bool:
    if not header:
        return False
    expected = header.encode("latin-1") if isinstance(header, str) else header
    return any(hmac.compare_digest(signature(token, variant, params), expected)
               for variant in signed_urls(url))


def parse_form(body: bytes) -> dict[str, str]:
    """application/x-www-form-urlencoded -> fields (the last value of a repeated field), as
    Starlette's parser decodes them (latin-1 bytes, then percent-decoding as UTF-8)."""
    return dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))


def parse_inbound(form: dict[str, str]) -> Incoming:
    """Our `Incoming` from the fields of Twilio's inbound-message webhook."""
    raw_media = (form.get("NumMedia") or "").strip()
    num_media = min(int(raw_media), MAX_MEDIA) if raw_media.isdigit() and len(raw_media) < 6 else 0
    message_type = (form.get("MessageType") or "").lower()
    return Incoming(
        sid=(form.get("MessageSid") or form.get("SmsMessageSid") or "").strip(),
        sender=form.get("From") or "", to=form.get("To") or "",
        body=form.get("Body") or form.get("ButtonText") or "", num_media=num_media,
        media=num_media > 0 or bool(form.get("Latitude")) or message_type in MEDIA_TYPES)


def public_url(path: str, query: str = "") -> str:
    base = get_settings().public_base_url.rstrip("/")
    return f"{base}{path}" + (f"?{query}" if query else "")


async def verified_form(request: Request) -> dict[str, str]:
    """FastAPI dependency: the webhook's form fields, or 403 when the signature is wrong."""
    form = await request.form()
    params = {k: str(v) for k, v in form.multi_items()}
    header = request.headers.get("X-Twilio-Signature", "")
    if not verify(public_url(request.url.path, request.url.query), params, header,
                  get_settings().twilio_auth_token):
        log.warning("rejected webhook with a bad signature on %s", request.url.path)
        raise HTTPException(status_code=403, detail="invalid signature")
    return params


def sign(url: str, params: dict[str, str], auth_token: str | None = None) -> str:
    """The signature Twilio would send (the simulator and the tests use it)."""
    return signature(auth_token or get_settings().twilio_auth_token, url, params).decode("ascii")
