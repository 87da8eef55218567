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
from tests.bot.helpers import inbound, inbound_form, make_world, post_signed, replies_to, settle

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
    settle()
    assert len(replies_to(session, PHONE)) == 1


def test_the_app_decides_on_its_own_after_answering(client: TestClient, session: Session) -> None:
    """Nobody calls process_pending here: the inbox wakes the decider thread."""
    import time

    make_world(session)
    assert post_signed(client, inbound_form(PHONE, "isi survei")).status_code == 200
    deadline = time.monotonic() + 10
    while not replies_to(session, PHONE) and time.monotonic() < deadline:
        session.rollback()  # a new snapshot on the next read
        time.sleep(0.05)
    [reply] = replies_to(session, PHONE)
    assert "/s/" in reply


def test_signature_check_agrees_with_twilios_validator() -> None:
    """The fast signature check accepts exactly what twilio's RequestValidator accepts, with and
    without the default port in the signed URL, and rejects any change of URL, field or token."""
    from twilio.request_validator import RequestValidator

    from dispatch.channels.twilio.webhooks import parse_form, verify

    token = "secret-token"  # noqa: S105
    form = inbound_form(PHONE, "Isi Survei 🙏 & = + ü", ButtonText="", Latitude="-6.2")
    validator = RequestValidator(token)
    for signed_url, checked_url in [("https://spi.example.go.id/twilio/inbound",) * 2,
                                    ("https://spi.example.go.id:443/twilio/inbound",
                                     "https://spi.example.go.id/twilio/inbound"),
                                    ("http://127.0.0.1:8000/twilio/inbound?x=1",) * 2]:
        header = validator.compute_signature(signed_url, form).encode()
        assert validator.validate(checked_url, form, header.decode())
        assert verify(checked_url, form, header, token)
        assert not verify(checked_url, {**form, "Body": "isi survei"}, header, token)
        assert not verify(checked_url + "x", form, header, token)
        assert not verify(checked_url, form, header, "other-token")
        assert not verify(checked_url, form, b"", token)
    from urllib.parse import urlencode

    assert parse_form(urlencode(form).encode()) == form


def test_other_content_types_and_oversized_bodies(client: TestClient, session: Session) -> None:
    """A multipart form is parsed too (Twilio sends urlencoded); a huge body is refused (413)."""
    from core.config import get_settings
    from dispatch.channels.twilio.webhooks import sign

    make_world(session)
    form = inbound_form(PHONE, "Isi Survei")
    url = get_settings().public_base_url.rstrip("/") + "/twilio/inbound"
    multipart = client.post("/twilio/inbound", files={k: (None, v) for k, v in form.items()},
                            headers={"X-Twilio-Signature": sign(url, form)})
    assert multipart.status_code == 200
    huge = inbound_form(PHONE, "x" * 300_000)
    assert post_signed(client, huge).status_code == 413
    settle()
    assert session.exec(select(InboundMessage.body)).all() == ["Isi Survei"]


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
    from dispatch.sandbox import conversation
    from dispatch.worker import run_until_idle

    world = make_world(session)
    with httpx.Client(base_url=live_app.url) as http:  # type: ignore[attr-defined]
        for body in ("Isi Survei", "Tanya SPI", "4", "STOP"):
            assert post_signed(http, inbound_form(PHONE, body)).status_code == 200
    settle()
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
        first = service.accept(s, inbound(PHONE, "BOOM"))
        service.accept(s, inbound(PHONE, "isi survei"))
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
