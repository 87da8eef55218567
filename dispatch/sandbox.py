"""What the sandbox WhatsApp channel "sent" to a number, as the respondent would see it (for the
WhatsApp simulator page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from dispatch import content
from dispatch.models import Outbox, Status
from dispatch.service import normalize_address

SHOWN = (Status.sent, Status.delivered, Status.read)


@dataclass(frozen=True)
class SandboxMessage:
    at: datetime | None
    sender: str
    text: str
    button_text: str | None  # "ISI SURVEI" for invitations/reminders, None for plain replies
    button_url: str | None
    purpose: str
    status: str


def render_row(row: Outbox) -> SandboxMessage:
    p = row.payload
    if "body" in p:
        return SandboxMessage(at=row.sent_at, sender=row.sender, text=str(p["body"]), button_text=None,
                              button_url=None, purpose=row.purpose, status=row.status)
    _, url = content.link_for_nonce(p["nonce"])
    return SandboxMessage(
        at=row.sent_at, sender=row.sender, text=content.whatsapp_text(p["template"], p["vars"]),
        button_text="ISI SURVEI", button_url=url, purpose=row.purpose, status=row.status)


def conversation(session: Session, address: str) -> list[SandboxMessage]:
    """Messages the sandbox delivered to this WhatsApp number, oldest first."""
    rows = session.execute(
        select(Outbox).where(col(Outbox.to_address) == normalize_address(address), col(Outbox.channel) == "whatsapp",
                             col(Outbox.backend) == "sandbox", col(Outbox.status).in_(SHOWN))
        .order_by(col(Outbox.sent_at), col(Outbox.id))
    ).scalars().all()
    return [render_row(r) for r in rows]
