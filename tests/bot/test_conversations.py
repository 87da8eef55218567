"""Conversation paths through `bot.service.receive` (the function behind the webhook)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, func, select

from bot.models import ConversationEntry, InboundMessage, IntentEvent
from bot.service import Received, receive
from core.clock import utcnow
from core.db import session_scope
from core.models import OptOut
from dispatch.channels.twilio.webhooks import parse_inbound
from tests import factories
from tests.bot.helpers import inbound, make_world, past, replies_to, second_survey

PHONE = "+6281200000001"


def say(body: str, phone: str = PHONE, **extra: str) -> Received:
    with session_scope(write=True) as s:
        return receive(s, inbound(phone, body, **extra))


def test_isi_survei_resends_the_personal_link_naming_institution_and_unit(session: Session) -> None:
    world = make_world(session)
    result = say("isi survei ya pak 🙏")
    assert result.status == "replied" and result.intent == "isi_survei"
    (text,) = result.replies
    assert f"/s/{world.token}" in text
    assert "Kabupaten Katingan" in text and "Dinas Kependudukan" in text and "Budi Santoso" in text
    assert replies_to(session, PHONE) == [text]  # enqueued once, on the outbox


def test_two_open_surveys_give_a_numbered_list_then_the_chosen_link(session: Session) -> None:
    world = make_world(session)
    other, other_token = second_survey(session, PHONE)
    listing = say("Isi Survei").replies[0]
    assert "1." in listing and "2." in listing and world.token not in listing
    lines = [line for line in listing.splitlines() if line[:2] in ("1.", "2.")]
    choice = 1 + next(i for i, line in enumerate(lines) if "Palangka Raya" in line)
    chosen = say(str(choice)).replies[0]
    assert f"/s/{other_token}" in chosen and world.token not in chosen
    assert "1 sampai 2" in say("3").replies[0]  # out of range: names the valid range


def test_submitted_survey_is_thanked_without_a_link(session: Session) -> None:
    world = make_world(session)
    world.assignment.responded_at = utcnow()
    session.add(world.assignment)
    session.commit()
    text = say("isi survei").replies[0]
    assert "sudah Anda isi" in text and "/s/" not in text


def test_closed_campaign_says_when_it_closed(session: Session) -> None:
    make_world(session, opens_at=past(40), closes_at=past(3), status="closed")
    text = say("isi survei").replies[0]
    assert "sudah ditutup" in text and "/s/" not in text


def test_unknown_number_is_told_politely_and_offered_registration(session: Session) -> None:
    make_world(session)
    text = say("isi survei", phone="+6285799990000").replies[0]
    assert "tidak terdaftar" in text
    assert "/daftar/KTG" in text and "/s/" not in text


def test_tanya_spi_menu_answers_and_back_to_menu(session: Session) -> None:
    make_world(session)
    menu = say("Tanya SPI").replies[0]
    assert "1." in menu and "rahasia" in menu.lower()
    answer = say("3").replies[0]
    assert "kerahasiaan" in answer
    until = say("5").replies[0]
    assert "sampai" in until and any(m in until for m in ("WIB", "WITA", "WIT"))
    assert say("0").replies[0] == menu
    assert say("menu").replies[0] == menu
    session.commit()  # end the read snapshot
    topics = session.exec(select(IntentEvent.topic).where(IntentEvent.topic.is_not(None))).all()  # type: ignore[union-attr]
    assert sorted(topics) == ["rahasia", "sampai_kapan"]


def test_stop_opts_out_once_and_start_opts_back_in(session: Session) -> None:
    make_world(session)
    first = say("BERHENTI")
    assert first.intent == "stop" and len(first.replies) == 1
    assert session.exec(select(OptOut).where(OptOut.address == PHONE)).one()
    again = say("stop")
    assert again.intent == "stop" and again.replies == []  # confirmed once only
    assert "menerima pesan" in say("MULAI").replies[0]
    session.commit()  # end the read snapshot
    assert session.exec(select(OptOut).where(OptOut.address == PHONE)).first() is None


def test_opted_out_number_is_never_invited_by_the_dispatcher(session: Session) -> None:
    from dispatch.models import Outbox
    from dispatch.service import enqueue_invitations, enqueue_reminder

    world = make_world(session)
    other = factories.make_person(session, world.unit, phone="+6281200000002")
    factories.make_assignment(session, world.campaign, other)
    session.commit()
    say("STOP")
    with session_scope(write=True) as s:
        enqueue_invitations(s, world.campaign.id)
        enqueue_reminder(s, world.campaign.id)
    bulk = session.exec(select(Outbox).where(Outbox.purpose != "reply")).all()
    assert {r.to_address for r in bulk if r.channel == "whatsapp"} == {"+6281200000002"}


def test_retried_webhook_never_replies_twice(session: Session) -> None:
    make_world(session)
    message = inbound(PHONE, "isi survei")
    with session_scope(write=True) as s:
        assert receive(s, message).status == "replied"
    for _ in range(3):
        with session_scope(write=True) as s:
            assert receive(s, inbound(PHONE, "isi survei", sid=message.sid)).status == "duplicate"
    assert len(replies_to(session, PHONE)) == 1
    count = session.exec(select(func.count()).select_from(InboundMessage)).one()
    assert count == 1


def test_rate_limit_one_please_wait_then_ignored_others_unaffected(session: Session) -> None:
    make_world(session)
    results = [say(f"halo {n}") for n in range(35)]
    statuses = [r.status for r in results]
    assert statuses[:29] == ["replied"] * 29
    assert statuses[29] == "rate_limited" and "tunggu" in results[29].replies[0]
    assert statuses[30:] == ["ignored"] * 5
    assert say("isi survei", phone="+6281200000009").status == "replied"
    # After the mute, the number is answered again.
    with session_scope(write=True) as s:
        later = receive(s, inbound(PHONE, "isi survei"), now=utcnow() + timedelta(minutes=6))
    assert later.status == "replied"


def test_media_location_empty_and_long_get_a_polite_help(session: Session) -> None:
    make_world(session)
    for extra in ({"NumMedia": "1", "MediaContentType0": "image/jpeg"},
                  {"MessageType": "sticker"}, {"Latitude": "-1.87", "Longitude": "113.1"},
                  {"MessageType": "audio", "NumMedia": "1"}):
        assert "hanya dapat membaca pesan teks" in say("", **extra).replies[0]
    assert "Isi Survei" in say("").replies[0]
    assert "Isi Survei" in say("a" * 5000).replies[0]


def test_conversation_log_redacts_links_and_keeps_both_directions(session: Session) -> None:
    world = make_world(session)
    say("isi survei")
    entries = session.exec(select(ConversationEntry)).all()
    assert {e.direction for e in entries} == {"in", "out"}
    assert all(world.token not in e.body for e in entries)


def test_odd_addresses_and_bodies_never_raise(session: Session) -> None:
    make_world(session)
    assert say("isi survei", phone="not-a-phone").status == "no_reply"
    with session_scope(write=True) as s:
        assert receive(s, parse_inbound({"Body": "x"})).status == "invalid"
        assert receive(s, parse_inbound({"MessageSid": "SMx", "From": "whatsapp:+6281200000001",
                                         "Body": "\x00\ud800 isi survei \x07", "NumMedia": "abc"})).status == "replied"
