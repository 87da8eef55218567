"""A claim takes at most `limit` rows, however the database plans it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from dispatch import outbox
from dispatch.models import Outbox, Status
from dispatch.service import enqueue_invitations
from tests.dispatch.helpers import bulk_campaign


def test_a_claim_on_a_fresh_outbox_takes_only_its_limit(session: Session) -> None:
    """Right after a blast is enqueued the table's statistics are stale; PostgreSQL then planned
    `id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` as a nested loop re-running the
    subquery per row, and one claim leased all 1,200 rows instead of 200."""
    campaign = bulk_campaign(session, 1200)
    assert enqueue_invitations(session, campaign.id) == 1200
    session.commit()
    first = outbox.claim(session, limit=200, lease_seconds=120, allowed_zones=None)
    second = outbox.claim(session, limit=200, lease_seconds=120, allowed_zones=None)
    session.commit()
    assert len(first) == 200 and len(second) == 200
    assert not {c.id for c in first} & {c.id for c in second}
    sending = session.execute(select(func.count()).where(Outbox.status == Status.sending)).scalar()  # type: ignore[arg-type]
    assert sending == 400
