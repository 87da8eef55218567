"""Dashboard figures (institution-scoped) and the sandbox WhatsApp simulator pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from bot import stats
from bot.service import receive
from core.clock import utcnow
from core.config import reset_settings
from core.db import session_scope
from tests import factories
from tests.bot.helpers import inbound, make_world, second_survey

PHONE = "+6281200000001"


def say(body: str, phone: str = PHONE) -> None:
    with session_scope(write=True) as s:
        receive(s, inbound(phone, body))


def test_activity_counts_re_requests_conversions_topics_and_opt_outs(session: Session) -> None:
    world = make_world(session)
    say("isi survei")
    say("link survei")
    say("Tanya SPI")
    say("3")
    other = factories.make_person(session, world.unit, phone="+6281200000002")
    factories.make_assignment(session, world.campaign, other)
    session.commit()
    say("STOP", phone="+6281200000002")
    world.assignment.responded_at = utcnow()
    session.add(world.assignment)
    session.commit()

    figures = stats.activity(session, world.institution.id, world.campaign.id)
    assert figures["re_requests"] == 2
    assert figures["re_requests_by_outcome"] == {"link": 2}
    assert figures["re_requests_responded"] == 1
    assert figures["faq_topics"] == {"Apakah jawaban saya rahasia?": 1}
    assert figures["opt_outs"] == 1
    assert figures["intents"]["stop"] == 1


def test_conversation_log_is_scoped_to_the_institution_and_masked(session: Session) -> None:
    world = make_world(session)
    other_assignment, other_token = second_survey(session, "+6281200000003")
    say("isi survei")
    say("isi survei", phone="+6281200000003")
    say("halo", phone="+6285799990000")  # unknown number: no institution's log
    mine = stats.conversation_log(session, world.institution.id, 50, 0)
    assert len(mine) == 2 and {r["direction"] for r in mine} == {"masuk", "keluar"}
    assert all("+6281200000001" not in r["phone"] and "000001" not in r["phone"] for r in mine)
    assert all(world.token not in r["text"] for r in mine)
    theirs = stats.conversation_log(session, other_assignment_institution(session, other_assignment), 50, 0)
    assert len(theirs) == 2 and all(other_token not in r["text"] for r in theirs)
    assert stats.conversation_log(session, world.institution.id, 1, 1)[0] == mine[1]


def other_assignment_institution(session: Session, assignment: object) -> int:
    from core.models import Campaign

    return session.get(Campaign, assignment.campaign_id).institution_id  # type: ignore[attr-defined,union-attr]


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app()) as c:
        yield c


def test_simulator_lists_respondents_and_chats_through_the_same_path(client: TestClient,
                                                                     session: Session) -> None:
    world = make_world(session)
    page = client.get("/sandbox/whatsapp")
    assert page.status_code == 200 and "Budi Santoso" in page.text
    assert "+6281200000001" not in page.text  # masked
    sent = client.post(f"/sandbox/whatsapp/{world.person.id}", data={"text": "Isi Survei"})
    assert sent.status_code == 200  # followed the 303 back to the chat
    assert "Isi Survei" in sent.text and f"/s/{world.token}" in sent.text
    assert client.get("/sandbox/whatsapp/999999").status_code == 404


def test_simulator_is_404_outside_sandbox_mode(client: TestClient, session: Session,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(session)
    monkeypatch.setenv("WHATSAPP_BACKEND", "twilio")
    reset_settings()
    assert client.get("/sandbox/whatsapp").status_code == 404
    assert client.get(f"/sandbox/whatsapp/{world.person.id}").status_code == 404
    assert client.post(f"/sandbox/whatsapp/{world.person.id}", data={"text": "x"}).status_code == 404


@pytest.mark.browser
def test_simulator_in_a_phone_browser(live_app: object, page: object, session: Session) -> None:
    world = make_world(session)
    pg = page  # type: ignore[assignment]
    pg.goto(f"{live_app.url}/sandbox/whatsapp")  # type: ignore[attr-defined]
    pg.get_by_text("Budi Santoso").click()  # type: ignore[attr-defined]
    pg.get_by_label("Ketik pesan").fill("isi survei ya pak")  # type: ignore[attr-defined]
    pg.get_by_role("button", name="Kirim").click()  # type: ignore[attr-defined]
    pg.wait_for_selector(".bubble:not(.mine)")  # type: ignore[attr-defined]
    reply = pg.locator(".bubble:not(.mine)").last.inner_text()  # type: ignore[attr-defined]
    assert "Kabupaten Katingan" in reply and world.token in pg.content()  # type: ignore[attr-defined]
