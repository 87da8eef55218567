"""Signed status callbacks: repeated or out-of-order ones never move a status backwards."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session, select

from core.config import get_settings
from dispatch.channels.twilio.webhooks import sign
from dispatch.models import Outbox
from dispatch.service import enqueue_invitations
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with


def post_status(client: httpx.Client, params: dict[str, str], *, valid: bool = True) -> httpx.Response:
    url = get_settings().public_base_url.rstrip("/") + "/twilio/status"
    signature = sign(url, params) if valid else "bad"
    return client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def client(db_url: str) -> httpx.Client:
    from fastapi.testclient import TestClient

    from web import create_app

    return TestClient(create_app())


def status_of(session: Session, sid: str) -> Outbox:
    session.commit()  # end the read snapshot (SQLite WAL) before looking again
    session.expire_all()
    return session.exec(select(Outbox).where(Outbox.provider_id == sid)).one()


def test_callbacks_only_move_forward(session: Session, fake_twilio, client) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, people = campaign_with(session, 2, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    run_until_idle(timeout=20)
    sid = fake_twilio.messages[0]["sid"]
    assert post_status(client, {"MessageSid": sid, "MessageStatus": "delivered"}, valid=False).status_code == 403
    assert status_of(session, sid).status == "sent"
    for st in ["read", "delivered", "sent", "queued", "read", "failed"]:  # out of order, repeated
        assert post_status(client, {"MessageSid": sid, "MessageStatus": st}).status_code == 204
    row = status_of(session, sid)
    assert row.status == "read" and row.delivered_at is not None


def test_callback_before_the_worker_recorded_the_sid(session: Session, client) -> None:  # type: ignore[no-untyped-def]
    from dispatch import outbox
    from dispatch.worker import Worker

    campaign, _, _, _ = campaign_with(session, 1, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    [(item, _)] = Worker().claim(10)
    post_status(client, {"MessageSid": "SMearly", "MessageStatus": "delivered"})
    from core.db import session_scope

    with session_scope(write=True) as s:
        outbox.mark_sent(s, [{"id": item.id, "attempt_id": item.attempt_id, "provider_id": "SMearly",
                              "status": "sent", "backend": "twilio"}])
    assert status_of(session, "SMearly").status == "delivered"


def test_async_not_on_whatsapp_falls_back(session: Session, fake_twilio, client) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, [(a, p)] = campaign_with(session, 1)
    enqueue_invitations(session, campaign.id)
    session.commit()
    run_until_idle(timeout=20)
    sid = fake_twilio.messages[0]["sid"]
    post_status(client, {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63024"})
    session.commit()  # end the read snapshot (SQLite WAL) before looking again
    session.expire_all()
    by_channel = {r.channel: r for r in session.exec(select(Outbox)).all()}
    assert by_channel["whatsapp"].status == "failed" and by_channel["whatsapp"].error_code == "63024"
    assert by_channel["email"].status == "pending" and by_channel["email"].to_address == p.email.lower()
