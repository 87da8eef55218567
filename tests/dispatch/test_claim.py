"""A claim takes at most `limit` rows, however the database plans it."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from core.clock import utcnow
from dispatch import outbox
from dispatch.channels.base import OutMessage, SendResult
from dispatch.models import Outbox, Status
from dispatch.service import enqueue_invitations
from dispatch.worker import Worker
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


def test_a_message_whose_lease_ran_short_is_given_back_unsent(session: Session) -> None:
    """Waiting for its slot past (nearly) the end of its lease, a claimed message is not sent:
    a reconcile may already have reopened the row, and sending then would send it twice."""
    campaign = bulk_campaign(session, 2)
    enqueue_invitations(session, campaign.id)
    session.commit()
    worker = Worker()
    [(short, _), (fine, _)] = worker.claim(10)
    short = replace(short, lease_until=utcnow() + timedelta(seconds=1))
    sent: list[int] = []

    class Recording:
        async def send(self, message: OutMessage) -> SendResult:
            sent.append(message.outbox_id)
            return SendResult(provider_id=f"SM{message.outbox_id}", status="sent", backend="test")

    async def scenario() -> None:
        worker.channels = {"whatsapp": Recording()}  # type: ignore[dict-item]
        sem = asyncio.Semaphore(4)
        worker.inflight = 2
        await asyncio.gather(worker._send_one(short, sem), worker._send_one(fine, sem))

    thread = threading.Thread(target=lambda: asyncio.run(scenario()))  # a loop of its own
    thread.start()
    thread.join(timeout=30)
    assert sent == [fine.id]
    worker.write_results(worker.results)
    session.expire_all()
    rows = {r.id: r for r in session.exec(select(Outbox)).all()}
    assert rows[short.id].status == Status.pending and rows[short.id].attempts == 0
    assert rows[short.id].lease_until is None
    assert rows[fine.id].status == Status.sent and rows[fine.id].attempts == 1
