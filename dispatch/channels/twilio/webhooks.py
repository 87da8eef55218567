"""Validation of Twilio webhooks (`X-Twilio-Signature`) against PUBLIC_BASE_URL.

Behind a proxy `request.url` is the internal address, so the URL Twilio signed is rebuilt from the
configured public base URL plus the request's path and query.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException, Request
from twilio.request_validator import RequestValidator

from core.config import get_settings

log = logging.getLogger("spibot.webhooks")


def public_url(request: Request) -> str:
    base = get_settings().public_base_url.rstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


async def verified_form(request: Request) -> dict[str, str]:
    """FastAPI dependency: the webhook's form fields, or 403 when the signature is wrong."""
    form = await request.form()
    params = {k: str(v) for k, v in form.multi_items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(get_settings().twilio_auth_token)
    if not signature or not validator.validate(public_url(request), params, signature):
        log.warning("rejected webhook with a bad signature on %s", request.url.path)
        raise HTTPException(status_code=403, detail="invalid signature")
    return params


def sign(url: str, params: dict[str, str], auth_token: str | None = None) -> str:
    """The signature Twilio would send (used by the simulator and the tests)."""
    return RequestValidator(auth_token or get_settings().twilio_auth_token).compute_signature(url, params)
