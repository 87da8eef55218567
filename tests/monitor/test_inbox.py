"""Issue 25 on the dashboard: the call-centre inbox for the new `agent` role (own institution only,
replies inside the 24-hour window, refused with the reason after it) and the PIC's case page
(`/pic/c/N/kasus`: resolve → the respondent receives the corrected link; opt-in proof shown).
World from conftest: institutions A (Katingan) and B (Barito), one user per role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from bot.models import AgentConversation, InboundMessage, RespondentCase
from bot.service import receive
from core.db import session_scope
from dispatch.models import Outbox
from monitor.users import add_user
from tests.bot.helpers import inbound
from tests.factories import make_assignment, make_person
from tests.monitor.conftest import PASSWORD, World, csrf_of, login

PHONE = "+6281299990001"


def say(body: str) -> None:
    with session_scope(write=True) as s:
        receive(s, inbound(PHONE, body))


def _respondent(session: Session, world: World) -> int:
    person = make_person(session, world.a.units[1], phone=PHONE, name="Rina Lestari")
    assignment, _ = make_assignment(session, world.a.campaign, person)
    add_user(session, login="cc.a", password=PASSWORD, role="agent", institution_id=world.a.inst.id, actor="t")
    add_user(session, login="cc.b", password=PASSWORD, role="agent", institution_id=world.b.inst.id, actor="t")
    session.commit()
    return assignment.id  # type: ignore[return-value]


def _replies(session: Session) -> list[str]:
    session.rollback()
    rows = session.exec(select(Outbox).where(Outbox.to_address == PHONE, Outbox.purpose == "reply")
                        .order_by(Outbox.id)).all()  # type: ignore[arg-type]
    return [r.payload["body"] for r in rows]


def test_agent_sees_only_own_inbox_and_replies_inside_the_window(
        world: World, session: Session, client: TestClient) -> None:
    """An unanswerable question after the menu shows up (unread) for institution A's agent, who
    replies: the reply is enqueued to the respondent. B's agent sees nothing of it (list and 404),
    and an agent cannot open the campaign pages (403)."""
    _respondent(session, world)
    say("tanya spi")
    say("apakah pegawai honorer juga diminta mengisi?")
    session.rollback()
    conv = session.exec(select(AgentConversation)).one()

    assert login(client, "cc.b").status_code == 303
    assert f"/pic/inbox/{conv.id}" not in client.get("/pic/inbox").text
    assert client.get(f"/pic/inbox/{conv.id}").status_code == 404
    client.cookies.clear()

    assert login(client, "cc.a").status_code == 303
    listing = client.get("/pic/inbox").text
    assert f"/pic/inbox/{conv.id}" in listing and "1 belum dibaca" in listing
    assert client.get(f"/pic/c/{world.a.campaign.id}").status_code == 403
    page = client.get(f"/pic/inbox/{conv.id}").text
    assert "honorer" in page and "Daftar populasi" in page  # history and opt-in proof
    csrf = csrf_of(client, f"/pic/inbox/{conv.id}")
    sent = client.post(f"/pic/inbox/{conv.id}", data={"csrf": csrf, "action": "reply",
                                                      "body": "Ya, bila namanya ada di daftar, Bu."},
                       follow_redirects=False)
    assert sent.status_code == 303 and "err=" not in sent.headers["location"]
    assert _replies(session)[-1] == "Ya, bila namanya ada di daftar, Bu."


def test_a_reply_after_24_hours_is_refused_with_the_reason(
        world: World, session: Session, client: TestClient) -> None:
    """The respondent's last message is 25 h old: the reply is refused, the reason (24-hour
    window, template only) is shown, nothing is enqueued; the page offers the template instead."""
    _respondent(session, world)
    say("tanya spi")
    say("apakah pegawai honorer juga diminta mengisi?")
    with session_scope(write=True) as s:
        s.execute(update(InboundMessage).values(received_at=datetime.now(UTC) - timedelta(hours=25)))
    session.rollback()
    conv = session.exec(select(AgentConversation)).one()
    before = len(_replies(session))
    assert login(client, "cc.a").status_code == 303
    page = client.get(f"/pic/inbox/{conv.id}").text
    assert "value=\"template\"" in page and "value=\"reply\"" not in page
    csrf = csrf_of(client, f"/pic/inbox/{conv.id}")
    refused = client.post(f"/pic/inbox/{conv.id}", data={"csrf": csrf, "action": "reply", "body": "Halo"},
                          follow_redirects=False)
    assert "24 jam" in unquote(refused.headers["location"])
    assert len(_replies(session)) == before
    # the approved template (the survey link) may still go
    template = client.post(f"/pic/inbox/{conv.id}", data={"csrf": csrf, "action": "template"},
                           follow_redirects=False)
    assert "err=" not in template.headers["location"]
    session.rollback()
    rows = session.exec(select(Outbox).where(Outbox.to_address == PHONE, Outbox.purpose == "registration")).all()
    assert [r.payload["template"] for r in rows] == ["registration"]


def test_pic_resolves_a_case_on_the_dashboard_and_the_respondent_gets_the_corrected_link(
        world: World, session: Session, client: TestClient) -> None:
    """"salah nama" + YA → the case is listed for A's PIC with the correction and the opt-in
    proof; "Perbaiki" with the right name → a reply carrying the new link and the corrected name."""
    _respondent(session, world)
    say("nama saya salah, yang benar Rina Lestari Putri")
    say("ya")
    session.rollback()
    case = session.exec(select(RespondentCase)).one()
    assert case.status == "open"
    assert login(client, "pic.a").status_code == 303
    page = client.get(f"/pic/c/{world.a.campaign.id}/kasus").text
    assert "Rina Lestari Putri" in page and "Nama salah" in page and "Daftar populasi" in page
    csrf = csrf_of(client, f"/pic/c/{world.a.campaign.id}/kasus")
    done = client.post(f"/pic/c/{world.a.campaign.id}/kasus/{case.id}",
                       data={"csrf": csrf, "action": "correct", "name": "Rina Lestari Putri"},
                       follow_redirects=False)
    assert done.status_code == 303 and "err=" not in done.headers["location"]
    last = _replies(session)[-1]
    assert "Rina Lestari Putri" in last and "/s/" in last
    session.rollback()
    assert session.get(RespondentCase, case.id).resolution == "corrected"  # type: ignore[union-attr]
    # B's PIC cannot touch A's case
    client.cookies.clear()
    assert login(client, "pic.b").status_code == 303
    assert client.get(f"/pic/c/{world.a.campaign.id}/kasus").status_code == 404
