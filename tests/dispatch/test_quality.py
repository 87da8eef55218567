"""The quality guard: rising STOPs and messages WhatsApp held back pause a sender's bulk lane by
itself; replies keep flowing; the admins get an email; a person's resume lets the rest go once."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import Session

from core.clock import utcnow
from core.config import get_settings, reset_settings
from core.models import OptOut
from dispatch import holds, quality
from dispatch.models import HoldScope, Outbox
from dispatch.service import enqueue_invitations, enqueue_reply
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with


@pytest.fixture(autouse=True)
def _guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_EMAILS", "admin@spi.example")
    monkeypatch.setenv("QUALITY_MIN_SENT", "20")
    reset_settings()


def test_rising_stops_pause_bulk_but_not_replies(session: Session, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    first, _, _, people = campaign_with(session, 40, email=False)
    enqueue_invitations(session, first.id)
    session.commit()
    assert run_until_idle(timeout=10)["sent"] == 40
    sender = get_settings().whatsapp_sender_internal
    assert quality.check(session) == []  # a clean blast trips nothing
    for _, person in people[:3]:  # 3 of 40 say STOP: 7.5% > 2%
        session.add(OptOut(address=person.phone or "", channel="whatsapp", opted_out_at=utcnow()))
    session.commit()
    second, _, _, later = campaign_with(session, 10, email=False)
    enqueue_invitations(session, second.id)
    enqueue_reply(session, to=people[5][1].phone or "", body="Tautan survei Anda: ...", key="q1")
    session.commit()
    before = len(fake_twilio.messages)
    run_until_idle(timeout=5)
    new = fake_twilio.messages[before:]
    assert [m["Body"] for m in new] == ["Tautan survei Anda: ..."]  # the reply went, no bulk
    assert holds.current(session).senders == {sender}
    hold = holds.listed(session)[0]
    assert hold.code == "quality" and "opt-outs (STOP) 7.5% > 2.0%" in hold.reason
    alert = session.execute(select(Outbox).where(Outbox.purpose == "alert")).scalar_one()  # type: ignore[arg-type]
    assert alert.to_address == "admin@spi.example" and alert.status == "delivered"  # sandbox email
    assert "dihentikan sementara" in alert.payload["text"]
    assert {r.status for r in session.execute(
        select(Outbox).where(Outbox.campaign_id == second.id)  # type: ignore[arg-type]
    ).scalars()} == {"pending"}
    # A person resumes: the window restarts, the rest goes once, the guard does not re-trip.
    holds.resume(session, HoldScope.sender, sender, actor="pic@spi")
    session.commit()
    assert run_until_idle(timeout=10)["sent"] == 10
    assert [len(fake_twilio.to(p.phone or "")) for _, p in later] == [1] * 10
    assert holds.current(session).senders == frozenset()


def test_held_back_messages_count_too(session: Session) -> None:
    _, _, _, _ = campaign_with(session, 1, email=False)
    q = quality.SenderQuality(sender="whatsapp:+628111919476", since=utcnow(), sent=100, opted_out=0,
                              held_back=6, undelivered=6, read=50)
    assert q.problems(get_settings()) == ["messages WhatsApp held back 6.0% > 5.0%"]
    small = quality.SenderQuality(sender="x", since=utcnow(), sent=10, opted_out=5, held_back=5,
                                  undelivered=5, read=0)
    assert small.problems(get_settings()) == []  # too few sent to judge
