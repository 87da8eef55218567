"""Sending a registrant their personal link, through the dispatch package.

Registration must never fail because sending failed: the questionnaire already opens in the
browser, and "Isi Survei" on WhatsApp re-sends the link later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session

from core.models import Assignment, Campaign, Institution, Unit
from dispatch import enqueue_link, enqueue_links

log = logging.getLogger(__name__)


def send_link(session: Session, assignment: Assignment) -> bool:
    """Enqueue the personal link (WhatsApp/email) in the caller's transaction; False if not."""
    try:
        with session.begin_nested():  # a failure here must not undo the registration
            enqueue_link(session, assignment, purpose="registration")
    except Exception:  # noqa: BLE001 - any sending problem is logged, never shown to the citizen
        log.exception("could not enqueue the registration link of assignment %s", assignment.id)
        return False
    return True


@dataclass(frozen=True)
class NewLink:
    """A registration written in this batch whose personal link is to be sent."""

    assignment_id: int
    unit: Unit | None
    group: str
    name: str
    phone: str | None
    email: str | None
    nonce: str


def send_links(session: Session, campaign: Campaign, institution: Institution,
               links: list[NewLink]) -> int:
    """Enqueue the personal links of a batch of new registrations in one INSERT, in the caller's
    transaction; the rows are those `dispatch.service.enqueue_link` writes for each (tested
    against it): WhatsApp and/or email, opted-out and unreachable addresses left out, templates
    validated once per channel (`dispatch.service.enqueue_links`). A failure is logged and the
    registrations stand."""
    if not links:
        return 0
    try:
        with session.begin_nested():  # a failure here must not undo the registrations
            return int(enqueue_links(session, campaign, institution, links))
    except Exception:  # noqa: BLE001 - any sending problem is logged, never shown to the citizen
        log.exception("could not enqueue the links of %d registrations", len(links))
        return 0
