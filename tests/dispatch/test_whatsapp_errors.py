"""Every row of the Twilio error table, both ways a code reaches us: refused by the create call
(the real twilio client against the fake), and reported failed later in a signed status callback.
What the table promises is checked where it shows: the row's state, the number's reachability,
the fallback email, the sender's hold and the admins' alert."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.clock import as_utc, utcnow
from core.config import get_settings, reset_settings
from dispatch import holds
from dispatch.channels.base import Action
from dispatch.channels.twilio.errors import CODES, classify
from dispatch.channels.twilio.webhooks import sign
from dispatch.models import Hold, HoldScope, Outbox, Unreachable
from dispatch.service import enqueue_invitations
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with


@pytest.fixture
def client(db_url: str) -> httpx.Client:
    from fastapi.testclient import TestClient

    from web import create_app

    return TestClient(create_app())


@pytest.fixture(autouse=True)
def _alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_EMAILS", "admin@spi.example")
    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", "1000")
    reset_settings()


def rows(session: Session) -> list[Outbox]:
    session.commit()
    session.expire_all()
    return list(session.execute(select(Outbox).order_by(Outbox.id)).scalars())  # type: ignore[arg-type]


def whatsapp(session: Session) -> list[Outbox]:
    return [r for r in rows(session) if r.channel == "whatsapp"]


def check(session: Session, action: Action, code: str) -> None:
    """The state the table promises after `code` on the first WhatsApp invitation."""
    wa = whatsapp(session)[0]
    emails = [r for r in rows(session) if r.channel == "email" and r.purpose == "invitation"]
    alerts = [r for r in rows(session) if r.purpose == "alert"]
    unreachable = session.execute(select(func.count()).select_from(Unreachable)).scalar_one()
    held = session.execute(select(func.count()).select_from(Hold)).scalar_one()
    now = utcnow()
    if action is Action.defer:
        assert wa.status == "pending" and wa.error_class == "deferred" and wa.attempts == 0
        assert as_utc(wa.next_attempt_at) > now + timedelta(hours=23)  # type: ignore[arg-type]
    elif action is Action.marketing:
        assert wa.status == "pending" and wa.error_class == "marketing_limit"
        assert now + timedelta(hours=5) < as_utc(wa.next_attempt_at) < now + timedelta(hours=7)  # type: ignore[arg-type]
    elif action is Action.hold:
        assert wa.status == "pending" and wa.error_class == "config" and wa.attempts == 0
        assert held == 1 and len(alerts) == 1 and alerts[0].to_address == "admin@spi.example"
    elif action in (Action.retry, Action.rate_limited):
        assert wa.status == "pending" and wa.attempts >= 1
    else:
        assert wa.status == "failed" and wa.error_code == code
    assert (unreachable == 1) == (action in (Action.unreachable, Action.opted_out))
    assert (len(emails) == 1) == (action in (Action.unreachable, Action.opted_out, Action.fallback))
    if action is not Action.hold:
        assert held == 0 and alerts == []


TABLE = sorted(CODES.items())


@pytest.mark.parametrize(("code", "row"), TABLE, ids=[c for c, _ in TABLE])
def test_refused_at_send_time(session: Session, fake_twilio, code: str, row: tuple[Action, str]) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, people = campaign_with(session, 1, email=True)
    enqueue_invitations(session, campaign.id)
    session.commit()
    fake_twilio.reject[people[0][1].phone] = int(code)
    run_until_idle(timeout=3)
    check(session, row[0], code)
    assert not fake_twilio.to(people[0][1].phone or "")  # refused: nothing reached the number


def post_status(client: httpx.Client, params: dict[str, str]) -> int:
    url = get_settings().public_base_url.rstrip("/") + "/twilio/status"
    return client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": sign(url, params)}).status_code


@pytest.mark.parametrize(("code", "row"), TABLE, ids=[c for c, _ in TABLE])
def test_reported_failed_in_a_callback(session: Session, fake_twilio, client: httpx.Client, code: str,  # type: ignore[no-untyped-def]
                                       row: tuple[Action, str]) -> None:
    campaign, _, _, _ = campaign_with(session, 1, email=True)
    enqueue_invitations(session, campaign.id)
    session.commit()
    run_until_idle(timeout=10)
    wa = whatsapp(session)[0]
    assert wa.status == "sent" and wa.provider_id
    for _ in range(2):  # Twilio retries webhooks: the second changes nothing
        assert post_status(client, {"MessageSid": wa.provider_id, "MessageStatus": "undelivered",
                                    "ErrorCode": code}) == 204
    check_callback(session, row[0], code)


def check_callback(session: Session, action: Action, code: str) -> None:
    wa = whatsapp(session)[0]
    emails = [r for r in rows(session) if r.channel == "email" and r.purpose == "invitation"]
    unreachable = session.execute(select(func.count()).select_from(Unreachable)).scalar_one()
    if action in (Action.defer, Action.marketing, Action.hold, Action.retry, Action.rate_limited):
        assert wa.status == "pending" and wa.provider_id is None  # it will be sent again, later
    else:
        assert wa.status == "failed" and wa.error_code == code
    assert (unreachable == 1) == (action in (Action.unreachable, Action.opted_out))
    assert (len(emails) == 1) == (action in (Action.unreachable, Action.opted_out, Action.fallback))


def test_held_sender_sends_nothing_more_then_resumes_without_duplicates(session: Session, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, people = campaign_with(session, 30, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    fake_twilio.reject[people[0][1].phone] = 63038  # the account's daily limit: config, for everyone
    run_until_idle(timeout=10)
    wa = whatsapp(session)
    assert all(r.status in ("pending", "sent") for r in wa) and not [r for r in wa if r.status == "failed"]
    held = holds.current(session)
    assert held.senders == {wa[0].sender}
    first = len(fake_twilio.messages)
    assert run_until_idle(timeout=3)["sent"] == 0  # held: --once stops, nothing claimed
    assert len(fake_twilio.messages) == first
    fake_twilio.reject.clear()
    session.rollback()  # a fresh snapshot: the workers wrote (heartbeat) since this one began
    holds.resume(session, HoldScope.sender, wa[0].sender, actor="test")
    session.commit()
    run_until_idle(timeout=10)
    assert {r.status for r in whatsapp(session)} == {"sent"}
    per_number = [len(fake_twilio.to(p.phone or "")) for _, p in people]
    assert per_number == [1] * 30  # every number once, none twice


def test_a_reply_outside_the_window_is_dropped_not_a_hold() -> None:
    assert classify(400, 63016, "", free_form=True).action is Action.rejected
    assert classify(400, 63016, "", free_form=False).action is Action.hold


def test_rfc9457_problem_details_are_classified_like_rest_errors() -> None:
    import asyncio

    from twilio.base.exceptions import TwilioServiceException

    from dispatch.channels.base import HoldError, OutMessage
    from dispatch.channels.twilio.whatsapp import TwilioWhatsAppChannel

    async def refuse(**_: object) -> None:
        raise TwilioServiceException(type_uri="https://www.twilio.com/docs/errors/21655", title="Invalid ContentSid",
                                     status=400, code=21655, detail="ContentSid HXplaceholder is invalid")

    async def send() -> None:
        channel = TwilioWhatsAppChannel(get_settings())  # its HTTP session needs a running loop
        channel.client.messages.create_async = refuse  # type: ignore[method-assign]
        try:
            await channel.send(OutMessage(outbox_id=1, channel="whatsapp", to="+628123456789",
                                          sender="whatsapp:+628111919476", content_sid="HX" + "0" * 32))
        finally:
            await channel.close()

    with pytest.raises(HoldError) as err:
        asyncio.run(send())
    assert err.value.code == "21655" and "invalid" in str(err.value).lower()


def test_reasons_fit_the_columns_that_store_them() -> None:
    """A reason is a failed row's error_class and a hold's code (both at most 20 characters)."""
    assert not [row.reason for row in CODES.values() if len(row.reason) > 20]
