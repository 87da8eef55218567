"""Creating the WhatsApp templates through Twilio's Content API (`spibot templates --create`)."""

from __future__ import annotations

from typing import Any

from twilio.rest.content.v1.content import ContentList

from core.config import get_settings
from dispatch.channels.twilio.whatsapp import make_client


def create_templates(definitions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    client = make_client(get_settings())
    out = []
    for d in definitions:
        req = ContentList.ContentCreateRequest(d)
        created = client.content.v1.contents.create(req)
        out.append((d["friendly_name"], str(created.sid)))
    return out
