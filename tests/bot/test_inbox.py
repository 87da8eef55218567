"""The webhook's group commit: a burst of concurrent webhooks, retries inside one burst, a bad form."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlmodel import Session, func, select

from bot import inbox, service
from bot.models import InboundMessage
from core.config import get_settings
from core.db import session_scope
from dispatch.channels.base import Incoming
from tests import factories
from tests.bot.helpers import inbound, inbound_form, make_world, post_signed, replies_to


def test_a_burst_of_webhooks_is_stored_once_each_and_answered_once_each(live_app: Any,
                                                                        session: Session) -> None:
    world = make_world(session)
    phones = [f"+62812555{n:05d}" for n in range(30)]
    for phone in phones:
        factories.make_assignment(session, world.campaign, factories.make_person(session, world.unit, phone=phone))
    session.commit()
    forms = [inbound_form(p, "isi survei", sid=f"SMburst{n:026d}") for n, p in enumerate(phones)]
    forms += forms[:10]  # Twilio retries arriving inside the same burst
    with httpx.Client(base_url=live_app.url, limits=httpx.Limits(max_connections=40)) as http, \
            ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(lambda form: post_signed(http, form).status_code, forms))
    assert codes == [200] * 40
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # background runs may still hold some (SKIP LOCKED)
        service.process_pending()
        session.expire_all()
        if not session.exec(select(InboundMessage.id).where(InboundMessage.status == "received")).first():
            break
        time.sleep(0.1)
    assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 30
    for phone in phones:
        [reply] = replies_to(session, phone)
        assert "/s/" in reply


def test_a_form_that_cannot_be_stored_fails_alone(db_url: str, session: Session,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    make_world(session)
    real = service.accept_many

    def accept_many(s: Session, messages: list[Incoming], **kw: Any) -> list[bool]:
        if any(m.body == "BOOM" for m in messages):
            raise RuntimeError("cannot store")
        return real(s, messages, **kw)

    monkeypatch.setattr(inbox, "accept_many", accept_many)
    good = [inbound(f"+6281200000{n:03d}", "halo") for n in range(5)]
    results: list[Any] = []
    url = get_settings().database_url
    jobs = [inbox.InboxJob(m, url, results.append)
            for m in [*good[:2], inbound("+6281200000999", "BOOM"), *good[2:]]]
    inbox.batch_writer.write_batch(jobs)  # one transaction fails, then each form alone
    assert [type(r) for r in results].count(RuntimeError) == 1
    assert [r for r in results if not isinstance(r, RuntimeError)] == [True] * 5
    assert inbox.submit(good[0]).result(timeout=10) is False  # already stored: a retry
    session.expire_all()
    bodies = session.exec(select(InboundMessage.body)).all()
    assert bodies == ["halo"] * 5
    assert service.accepting.value == 0


def test_accept_many_stores_each_message_sid_once(db_url: str, session: Session) -> None:
    forms = [inbound("+6281200000001", "isi survei", sid="SMmany1"),
             inbound("+6281200000002", "halo", sid="SMmany2"),
             inbound("+6281200000001", "isi survei", sid="SMmany1"),  # retry in the burst
             inbound("+6281200000003", "halo", MessageSid="")]  # no sid: ignored
    with session_scope(write=True) as s:
        assert service.accept_many(s, forms) == [True, True, False, False]
    with session_scope(write=True) as s:  # Twilio retries later
        assert service.accept_many(s, forms[:2]) == [False, False]
    rows = session.exec(select(InboundMessage).order_by(InboundMessage.message_sid)).all()
    # Each sid once; not the status: a decider thread an earlier test of this process started may
    # already have answered them (they are long-lived daemon threads).
    assert [(r.message_sid, r.kind) for r in rows] == [("SMmany1", "text"), ("SMmany2", "text")]
    assert rows[0].received_at is not None and rows[0].received_at.tzinfo is not None


def test_batches_apply_the_rate_limit_and_state_as_one_message_at_a_time_does(
        db_url: str, session: Session) -> None:
    """Deciding in batches reads states and recent arrivals once per batch (bot.prefetch): the
    rate limit, the mute and the FAQ state still apply per number, across batches."""
    from datetime import timedelta

    from bot.models import ConversationState
    from core.clock import utcnow

    world = make_world(session)
    factories.make_assignment(session, world.campaign,
                              factories.make_person(session, world.unit, phone="+6281200000002"))
    session.commit()
    flood = [inbound("+6281200000001", f"halo {n}", sid=f"SMflood{n:03d}") for n in range(31)]
    calm = [inbound("+6281200000002", body, sid=f"SMcalm{n}")
            for n, body in enumerate(["Tanya SPI", "4", "isi survei"])]
    now = utcnow()
    with session_scope(write=True) as s:  # the flood arrived within the minute, then the calm one
        service.accept_many(s, flood, now=now - timedelta(seconds=30))
        service.accept_many(s, calm, now=now)
    assert service.process_pending() == 34
    session.expire_all()
    rows = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
    statuses = [r.status for r in rows]
    # 31 messages in a minute: the first already counts 31 >= 30: one "please wait", then muted
    assert statuses[:31] == ["rate_limited"] + ["ignored"] * 30
    assert statuses[31:] == ["replied"] * 3
    flood_replies = replies_to(session, "+6281200000001")
    assert len(flood_replies) == 1 and "tunggu" in flood_replies[0]
    calm_replies = replies_to(session, "+6281200000002")
    assert "1. Apa itu SPI?" in calm_replies[0] and "10–15 menit" in calm_replies[1]
    assert "/s/" in calm_replies[2]
    muted = session.exec(select(ConversationState.muted_until)
                         .where(ConversationState.phone == "+6281200000001")).one()
    assert muted is not None and muted > now
