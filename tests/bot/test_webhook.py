"""The signed webhook against the app: signatures, idempotency, fuzzing, the full path to sending."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from bot.models import InboundMessage
from tests.bot.helpers import inbound_form, make_world, post_signed, replies_to

PHONE = "+6281200000001"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app()) as c:
        yield c


def test_bad_or_missing_signature_is_403_and_stores_nothing(client: TestClient, session: Session,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    make_world(session)
    form = inbound_form(PHONE, "isi survei rahasia-body-123")
    assert client.post("/twilio/inbound", data=form).status_code == 403
    bad = client.post("/twilio/inbound", data=form, headers={"X-Twilio-Signature": "AAAA"})
    assert bad.status_code == 403
    assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 0
    assert "rahasia-body-123" not in caplog.text


def test_webhook_answers_empty_twiml_and_retries_never_reply_twice(client: TestClient,
                                                                   session: Session) -> None:
    make_world(session)
    form = inbound_form(PHONE, "Isi Survei")
    for _ in range(3):
        response = post_signed(client, form)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/xml")
        assert "<Response></Response>" in response.text
    assert len(replies_to(session, PHONE)) == 1


def _random_text(rng: random.Random) -> str:
    pools = [string.printable, "🙏👍😀🇮🇩‍♂️", "ÀÉÎÕÜßçñ", "\x00\x01\x7f\u200b\u202e\ufeff",
             "ｉｓｉ ｓｕｒｖｅｉ", "١٢٣", "漢字かな", "<script>&'\""]
    length = rng.choice([0, 1, 5, 40, 300, 2000, 5000])
    return "".join(rng.choice(rng.choice(pools)) for _ in range(length))


def test_fuzzed_webhooks_never_produce_a_5xx(client: TestClient, session: Session) -> None:
    make_world(session)
    rng = random.Random(20240501)
    for n in range(120):
        form = inbound_form(rng.choice([PHONE, "+6281299999999", "+1", "garbage", ""]),
                            _random_text(rng), sid=f"SMfuzz{n}")
        for field in rng.sample(["NumMedia", "MessageType", "Latitude", "To", "From", "ButtonText",
                                 "MessageSid"], k=rng.randint(0, 3)):
            form[field] = rng.choice(["", "-1", "99999999999999999999", "sticker", _random_text(rng)])
        response = post_signed(client, form)
        assert response.status_code < 500, (n, form)


def test_full_isi_survei_path_on_the_running_app(live_app: object, session: Session) -> None:
    """A signed webhook to the served app -> outbox priority lane -> sandbox channel sends it."""
    from bot.service import process_pending
    from dispatch.sandbox import conversation
    from dispatch.worker import run_until_idle

    world = make_world(session)
    with httpx.Client(base_url=live_app.url) as http:  # type: ignore[attr-defined]
        for body in ("Isi Survei", "Tanya SPI", "4", "STOP"):
            assert post_signed(http, inbound_form(PHONE, body)).status_code == 200
    # The app decides replies in background runners (two on PostgreSQL): handle what they have not
    # taken, then wait (bounded) until every message is decided before draining the outbox.
    import time

    from core.db import session_scope

    deadline = time.monotonic() + 20
    while True:
        process_pending()
        with session_scope() as s:
            undecided = s.exec(select(func.count()).select_from(InboundMessage)
                               .where(InboundMessage.status == "received")).one()
        if undecided == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    run_until_idle(timeout=20)
    sent = conversation(session, PHONE)
    texts = [m.text for m in sent]
    assert len(texts) == 4
    assert f"/s/{world.token}" in texts[0]
    assert "Tanya SPI" in texts[1] and "10–15 menit" in texts[2] and "MULAI" in texts[3]


def test_stored_but_unhandled_messages_are_picked_up_and_a_bug_never_blocks_the_queue(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that died after storing a webhook: the next run handles it; a message whose
    handling raises is parked as "error" and the ones behind it are still answered."""
    from bot import service
    from core.db import session_scope

    make_world(session)
    with session_scope(write=True) as s:
        first = service.accept(s, inbound_form(PHONE, "BOOM"))
        service.accept(s, inbound_form(PHONE, "isi survei"))
        assert first is not None
    real = service.process

    def flaky(s: Session, inbound: InboundMessage, **kw: object) -> service.Received:
        if inbound.body == "BOOM":
            raise RuntimeError("bug")
        return real(s, inbound, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "process", flaky)
    assert service.process_pending() == 2
    session.commit()
    statuses = dict(session.exec(select(InboundMessage.body, InboundMessage.status)).all())
    assert statuses == {"BOOM": "error", "isi survei": "replied"}
    assert len(replies_to(session, PHONE)) == 1
