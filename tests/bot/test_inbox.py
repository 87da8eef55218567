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
from core.db import session_scope
from tests import factories
from tests.bot.helpers import inbound_form, make_world, post_signed, replies_to


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

    def accept_many(s: Session, forms: list[dict[str, str]], **kw: Any) -> list[bool]:
        if any(form.get("Body") == "BOOM" for form in forms):
            raise RuntimeError("cannot store")
        return real(s, forms, **kw)

    monkeypatch.setattr(inbox, "accept_many", accept_many)
    writer = inbox.GroupWriter()
    good = [inbound_form(f"+6281200000{n:03d}", "halo") for n in range(5)]
    batch = [(form, inbox.Future[bool]()) for form in [*good[:2], inbound_form("+6281200000999", "BOOM"), *good[2:]]]
    results = writer._store(batch)  # one transaction fails, then each form alone
    assert isinstance(results[2], RuntimeError)
    assert [r for n, r in enumerate(results) if n != 2] == [True] * 5
    assert writer.submit(good[0]).result(timeout=10) is False  # already stored: a retry
    session.expire_all()
    bodies = session.exec(select(InboundMessage.body)).all()
    assert bodies == ["halo"] * 5
    assert service.accepting.value == 0


def test_accept_many_stores_each_message_sid_once(db_url: str, session: Session) -> None:
    forms = [inbound_form("+6281200000001", "isi survei", sid="SMmany1"),
             inbound_form("+6281200000002", "halo", sid="SMmany2"),
             inbound_form("+6281200000001", "isi survei", sid="SMmany1"),  # retry in the burst
             {**inbound_form("+6281200000003", "halo"), "MessageSid": ""}]  # no sid: ignored
    with session_scope(write=True) as s:
        assert service.accept_many(s, forms) == [True, True, False, False]
    with session_scope(write=True) as s:  # Twilio retries later
        assert service.accept_many(s, forms[:2]) == [False, False]
    rows = session.exec(select(InboundMessage).order_by(InboundMessage.message_sid)).all()
    assert [(r.message_sid, r.status, r.kind) for r in rows] == [("SMmany1", "received", "text"),
                                                                   ("SMmany2", "received", "text")]
    assert rows[0].received_at is not None and rows[0].received_at.tzinfo is not None
