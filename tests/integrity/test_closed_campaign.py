"""A campaign closed by a person (before its closing date) or archived takes nothing more: late
answers on /s/<token> are refused politely, the bot's "Isi Survei" says the survey closed (on the
day it closed), the QR registration refuses (issue #21)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from bot.service import receive
from core.campaigns import archive_campaign, close_campaign
from core.clock import format_date_id, utcnow
from qr.service import CampaignState, campaign_state
from tests.bot.helpers import inbound
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit


@pytest.fixture(params=["closed", "archived"])
def closed_link(request: pytest.FixtureRequest, session: Session) -> tuple[str, str, str]:
    inst = make_institution(session, name="Kabupaten Tutup")
    campaign = make_campaign(session, inst, closes_at=utcnow() + timedelta(days=20))
    person = make_person(session, make_unit(session, inst))
    _, token = make_assignment(session, campaign, person)
    close_campaign(session, campaign, actor="pic.a", reason="Target tercapai")
    if request.param == "archived":
        archive_campaign(session, campaign, actor="admin")
    session.commit()
    assert campaign_state(campaign) == CampaignState.closed  # the QR registration refuses
    assert person.phone
    return token, person.phone, str(request.param)


def test_late_answers_are_refused_politely(closed_link: tuple[str, str, str]) -> None:
    from web import create_app

    token, _, _ = closed_link
    with TestClient(create_app(), base_url="https://testserver") as client:
        page = client.get(f"/s/{token}")
        assert page.status_code == 410 and "sudah berakhir" in page.text
        posted = client.post(f"/s/{token}", data={"page": "p1", "t": "x"})
        assert posted.status_code == 410 and "sudah berakhir" in posted.text


def test_the_bot_says_the_survey_closed_on_the_day_it_closed(session: Session,
                                                              closed_link: tuple[str, str, str]) -> None:
    _, phone, _ = closed_link
    result = receive(session, inbound(phone, "Isi Survei"))
    session.commit()
    [reply] = result.replies
    assert "sudah ditutup pada " + format_date_id(utcnow(), "Asia/Jakarta") in reply
    assert "/s/" not in reply
