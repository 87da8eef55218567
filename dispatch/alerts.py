"""Emails to the admins (ALERT_EMAILS) when bulk sending stops by itself: a sender held for a
configuration problem, the quality guard tripped. Sent through the outbox on the priority lane,
once per event (the key), in Indonesian with the English reason for the technical team."""

from __future__ import annotations

from sqlmodel import Session

from core.clock import utcnow
from core.config import get_settings
from core.masking import mask_text
from core.templating import render
from dispatch.models import Lane, Purpose
from dispatch.service import insert_rows, new_row


def _recipients() -> list[str]:
    return [a.strip().lower() for a in get_settings().alert_emails.split(",") if a.strip()]


def send_alert(session: Session, key: str, subject: str, text: str) -> int:
    """One email per admin; returns rows enqueued (0 when no ALERT_EMAILS or already sent)."""
    now = utcnow()
    settings = get_settings()
    rows = [new_row(key=f"alert:{key}:{to}", channel="email", purpose=Purpose.alert, wave=1, to=to,
                    sender=settings.email_from, tz="UTC", lane=Lane.reply,
                    payload={"subject": subject, "text": text}, campaign_id=None,
                    assignment_id=None, unit_id=None, institution_id=None, now=now)
            for to in _recipients()]
    return insert_rows(session, rows)


def sender_held(session: Session, sender: str, code: str | None, reason: str) -> int:
    at = utcnow()
    text = render("email/alert_sender_held.txt", sender=sender, code=code or "-",
                  reason=mask_text(reason), base_url=get_settings().public_base_url.rstrip("/"))
    return send_alert(session, f"hold:{sender}:{at:%Y%m%dT%H%M}",
                      f"[spibot] Pengiriman massal WhatsApp dihentikan ({sender})", text)
