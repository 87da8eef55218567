"""From an outbox row to the message a channel sends (tokens derived again from the nonce)."""

from __future__ import annotations

from core.config import get_settings
from dispatch import content
from dispatch.channels.base import OutMessage
from dispatch.outbox import Claimed


def _sid(template: str, override: str | None) -> str:
    return override or content.content_sid(template)


def build_message(item: Claimed) -> OutMessage:
    p = item.payload
    if item.channel == "whatsapp":
        if "body" in p:  # free-form reply inside the 24-hour window
            return OutMessage(outbox_id=item.id, channel="whatsapp", to=item.to_address,
                              sender=item.sender, body=str(p["body"]))
        token, _ = content.link_for_nonce(p["nonce"])
        return OutMessage(
            outbox_id=item.id, channel="whatsapp", to=item.to_address, sender=item.sender,
            template=p["template"], content_sid=_sid(p["template"], p.get("content_sid")),
            content_variables=content.content_variables(p["vars"], token))
    if "nonce" not in p:  # an alert to the admins: plain text, no personal link
        return OutMessage(outbox_id=item.id, channel="email", to=item.to_address,
                          sender=item.sender or get_settings().email_from, subject=str(p["subject"]),
                          text=str(p["text"]), message_id=content.message_id(item.id, item.key))
    _, link = content.link_for_nonce(p["nonce"])
    unsubscribe = content.unsubscribe_url(item.id)
    subject, text, html = content.email_parts(p["template"], p["vars"], link, unsubscribe)
    return OutMessage(
        outbox_id=item.id, channel="email", to=item.to_address,
        sender=item.sender or get_settings().email_from, template=p["template"], subject=subject,
        text=text, html=html, message_id=content.message_id(item.id, item.key),
        headers=(("unsubscribe", unsubscribe),))
