"""Sending a registrant their personal link, through the dispatch package when it is there.

Registration must never fail because sending failed: the questionnaire already opens in the
browser, and "Isi Survei" on WhatsApp re-sends the link later.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from core.models import Assignment

log = logging.getLogger(__name__)


def send_link(session: Session, assignment: Assignment) -> bool:
    """Enqueue the personal link (WhatsApp/email) in the caller's transaction; False if not."""
    try:
        from dispatch.service import enqueue_link  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("dispatch.service.enqueue_link not available: registration link not sent")
        return False
    try:
        with session.begin_nested():  # a failure here must not undo the registration
            enqueue_link(session, assignment, purpose="registration")
    except Exception:  # noqa: BLE001 - any sending problem is logged, never shown to the citizen
        log.exception("could not enqueue the registration link of assignment %s", assignment.id)
        return False
    return True
