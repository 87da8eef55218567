"""The one place where the bot hands a reply to the dispatcher (priority lane, idempotent key)."""

from __future__ import annotations

from sqlmodel import Session

from dispatch import enqueue_reply


def send_reply(
    session: Session,
    *,
    to: str,
    body: str,
    key: str,
    sender: str | None = None,
    campaign_id: int | None = None,
    assignment_id: int | None = None,
) -> bool:
    """Enqueue a free-form WhatsApp reply (inside the 24-hour window the respondent opened).

    Returns False when the key was already enqueued (a retried webhook) or dispatch refused it.
    """
    row = enqueue_reply(
        session, to=to, body=body, key=key, campaign_id=campaign_id,
        assignment_id=assignment_id, sender=sender,
    )
    return row is not None
