"""Replies ahead of bulk at the sender's next slot, even when bulk slots were reserved earlier."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from sqlmodel import Session, select

from core.clock import utcnow
from core.config import reset_settings
from dispatch import outbox
from dispatch.models import Lane, Outbox
from dispatch.service import enqueue_invitations, enqueue_reply
from dispatch.worker import Worker
from tests.dispatch.helpers import campaign_with, run_in_own_loop


def _item(n: int, lane: int) -> outbox.Claimed:
    return outbox.Claimed(id=n, key=f"k{n}", lane=lane, channel="whatsapp",
                          purpose="reply" if lane == Lane.reply else "invitation",
                          to_address=f"whatsapp:+6281200000{n:03d}", sender="whatsapp:+628111919476",
                          payload={}, attempt_id="a", attempts=1, lease_until=utcnow())


def test_a_reply_claimed_after_bulk_takes_the_next_slot() -> None:
    run_in_own_loop(_reply_takes_the_next_slot, timeout=30)


async def _reply_takes_the_next_slot() -> None:
    worker = Worker()
    started: list[tuple[int, float]] = []

    async def record(item: outbox.Claimed, sem: asyncio.Semaphore) -> None:
        started.append((item.id, time.time()))

    worker._send_one = record  # type: ignore[method-assign]
    sem, tasks = asyncio.Semaphore(4), set[asyncio.Task[None]]()
    t0 = time.time()
    slots = [t0 + 0.05 * i for i in range(12)]
    for i in range(10):  # a blast already holds the first 10 slots
        worker._queue(_item(i, Lane.bulk), slots[i], sem, tasks)
    await asyncio.sleep(0.06)
    # claimed later: its own reserved slot comes after every bulk slot
    worker._queue(_item(100, Lane.reply), slots[10], sem, tasks)
    worker._queue(_item(11, Lane.bulk), slots[11], sem, tasks)
    await asyncio.sleep(0.7)  # the last slot is at +0.55 s
    assert len(started) == 12
    order = [n for n, _ in started]
    assert order.index(100) <= 3, order  # not behind the 10 earlier bulk messages
    assert sorted(order) == [*range(10), 11, 100]
    for k, (_, at) in enumerate(started):  # the k-th start never precedes the k-th reserved slot
        assert at >= slots[k] - 0.005
    for pacer in worker._pacers.values():
        assert pacer.task is not None
        pacer.task.cancel()


def test_reply_lane_is_claimed_alone_and_seen_by_a_cheap_check(session: Session) -> None:
    campaign, _, _, _ = campaign_with(session, 4, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    worker = Worker()
    assert worker.reply_due() is False
    assert worker.claim(10, lane=Lane.reply) == []
    enqueue_reply(session, to="+628120000009", body="Tautan Anda", key="SMpace:0")
    session.commit()
    assert worker.reply_due() is True
    claimed = worker.claim(10, lane=Lane.reply)
    assert [item.purpose for item, _ in claimed] == ["reply"]
    assert worker.reply_due() is False
    pending = session.exec(select(Outbox).where(Outbox.status == "pending")).all()
    assert len(pending) == 4 and all(r.lane == Lane.bulk for r in pending)


@pytest.mark.slow
def test_reply_during_a_capped_blast_overtakes_the_reserved_bulk(session: Session, fake_twilio: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """20 msg/s, 60 invitations (3 s of slots, most reserved at once): a reply enqueued half a
    second in reaches the provider within about a second, long before the blast ends."""
    monkeypatch.setenv("WHATSAPP_RATE_PER_SENDER", "20")
    reset_settings()
    campaign, _, _, _ = campaign_with(session, 60, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(Worker().run(stop)), daemon=True)
    thread.start()
    try:
        deadline = time.time() + 20
        while len(fake_twilio.messages) < 5 and time.time() < deadline:
            time.sleep(0.02)
        enqueue_reply(session, to="+628120000099", body="Tautan Anda", key="SMpace:blast")
        session.commit()
        queued_at = time.time()
        while not fake_twilio.to("+628120000099") and time.time() < deadline:
            time.sleep(0.02)
        [reply] = fake_twilio.to("+628120000099")
        assert reply["at"] - queued_at < 1.2
        while len(fake_twilio.messages) < 61 and time.time() < deadline:
            time.sleep(0.05)
        bulk_after = [m for m in fake_twilio.messages if m["at"] > reply["at"]]
        assert len(bulk_after) > 20  # the blast was still going: the reply overtook it
    finally:
        stop.set()
        thread.join(timeout=30)
    assert len(fake_twilio.messages) == 61  # the worker sent everything it claimed before leaving
