"""Issue 25: "bukan saya" / "salah unit" / wrong number cases resolved by the PIC, the call-centre
inbox (agent replies, the 24-hour window, hours) and opt-in proof. Every DB test runs on SQLite and
PostgreSQL (the `session`/`db_url` fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from bot import callcentre, cases
from bot.intents import CORRECTION, STOP, confirmation, correction_kind, keywords, match
from bot.models import AgentConversation, ContactConsent, InboundMessage, RespondentCase
from bot.service import Received, receive
from core.assignments import find_by_token
from core.db import session_scope
from dispatch.models import Hold, Outbox
from dispatch.service import enqueue_invitations, enqueue_reminder
from tests import factories
from tests.bot.helpers import inbound, inbound_form, make_world, post_signed, replies_to, settle

PHONE = "+6281200000001"
ROOT = Path(__file__).resolve().parents[2]

# Real phrasings respondents write, with the kind each must be read as.
PHRASINGS = [
    ("Maaf pak, ini bukan saya", "not_me"), ("saya bukan orang yang dimaksud", "not_me"),
    ("Bkn saya bu 🙏", "not_me"), ("salah orang kak", "not_me"),
    ("nama saya salah, harusnya Budi Santosa", "wrong_name"), ("Salah nama pak", "wrong_name"),
    ("namanya salah ketik", "wrong_name"),
    ("salah unit, saya di Dinas Pendidikan", "wrong_unit"), ("Ini salah unit kerja bu", "wrong_unit"),
    ("unit saya salah, sekarang di Bappeda", "wrong_unit"), ("salah dinas pak", "wrong_unit"),
    ("saya sudah pindah ke Kota Palangka Raya", "moved"), ("sdh pindah tugas sejak Maret", "moved"),
    ("saya sudah pensiun", "moved"), ("sudah dimutasi ke kecamatan", "moved"),
    ("maaf nomor salah", "wrong_number"), ("salah sambung", "wrong_number"),
    ("ini nomor saya bukan Budi", "wrong_number"), ("tidak kenal nama itu", "wrong_number"),
    ("Wrong number", "wrong_number"),
]


def _all_phrases() -> list[str]:
    """Every phrase of every list of intents.yaml except the STOP lists themselves."""
    out: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list) and not path.startswith(".stop") and not path.startswith(".fillers"):
            out.extend(str(v) for v in node)

    walk(keywords(), "")
    return sorted(set(out))


@pytest.mark.parametrize(("text", "kind"), PHRASINGS)
def test_real_correction_phrasings_are_read_with_their_kind(text: str, kind: str) -> None:
    """Each real phrasing is a correction of the right kind (a wrong kind would pick the wrong
    flow, e.g. no stop for a wrong number)."""
    assert correction_kind(text) == kind


@pytest.mark.parametrize("kind", ["not_me", "wrong_name", "wrong_unit", "moved", "wrong_number"])
def test_every_phrase_of_every_correction_list_is_recognised(kind: str) -> None:
    """Each phrase of the list, alone, is a correction (a phrase another intent swallows fails)."""
    for phrase in keywords()["correction"][kind]:
        found = match(phrase)
        assert found is not None and found.intent == CORRECTION, phrase


def test_no_phrase_of_any_intent_list_is_a_false_stop() -> None:
    """Every intent phrase list (corrections, confirmations, Isi Survei, Tanya SPI, START, help):
    none of its phrases is read as STOP (which would opt the respondent out)."""
    phrases = _all_phrases()
    assert len(phrases) > 200
    false_stops = [p for p in phrases if (m := match(p)) is not None and m.intent == STOP]
    assert false_stops == []


def test_confirmation_answers() -> None:
    assert confirmation("Ya, benar") is True and confirmation("iya") is True
    assert confirmation("tidak") is False and confirmation("TIDAK!") is False
    assert confirmation("kapan ditutup?") is None


def say(body: str, phone: str = PHONE, at: datetime | None = None) -> Received:
    with session_scope(write=True) as s:
        return receive(s, inbound(phone, body), now=at)


def _reminded(session: Session, campaign_id: int) -> set[int]:
    session.rollback()
    return {r.assignment_id for r in session.exec(select(Outbox).where(
        Outbox.campaign_id == campaign_id, Outbox.purpose == "reminder")).all() if r.assignment_id}


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app()) as c:
        yield c


def test_salah_unit_over_signed_webhooks_pauses_then_pic_corrects_and_new_link_arrives(
        client: TestClient, session: Session) -> None:
    """"salah unit" → YA → case open, assignment paused (reminders skip it, a control respondent is
    reminded) → the PIC corrects the unit → the respondent receives a new link for the right unit;
    the old link no longer opens the survey."""
    world = make_world(session)
    right_unit = factories.make_unit(session, world.institution, name="Dinas Pendidikan")
    other = factories.make_person(session, world.unit, phone="+6281200000002", name="Sari")
    control, _ = factories.make_assignment(session, world.campaign, other)
    session.commit()

    assert post_signed(client, inbound_form(PHONE, "salah unit, saya di Dinas Pendidikan")).status_code == 200
    settle()
    session.rollback()
    assert "Apakah benar?" in replies_to(session, PHONE)[-1]
    assert post_signed(client, inbound_form(PHONE, "ya")).status_code == 200
    settle()
    session.rollback()
    assert "PIC SPI" in replies_to(session, PHONE)[-1]
    case = session.exec(select(RespondentCase)).one()
    assert case.status == "open" and case.kind == "wrong_unit" and "Dinas Pendidikan" in case.correction
    assert session.exec(select(Hold).where(Hold.scope == "assignment")).one().target == str(world.assignment.id)

    with session_scope(write=True) as s:
        enqueue_reminder(s, world.campaign.id)  # type: ignore[arg-type]
    assert _reminded(session, world.campaign.id) == {control.id}  # type: ignore[arg-type]

    with session_scope(write=True) as s:
        told = cases.correct(s, s.get(RespondentCase, case.id), actor="pic@ktg", unit_id=right_unit.id)
    assert told == "reply"
    session.rollback()
    last = replies_to(session, PHONE)[-1]
    assert "Dinas Pendidikan" in last and "/s/" in last and world.token not in last
    new_token = last.split("/s/")[1].split()[0]
    assert find_by_token(session, new_token).id == world.assignment.id  # type: ignore[union-attr]
    assert find_by_token(session, world.token) is None
    assert session.exec(select(Hold).where(Hold.scope == "assignment")).first() is None
    # opt-in proof stored with the case: the population list's unit and file
    proof = session.exec(select(ContactConsent).where(ContactConsent.source == "population_list")).first()
    assert proof is not None and "Dinas Kependudukan" in proof.detail


def test_tidak_changes_nothing(session: Session) -> None:
    """TIDAK to the question: the case is dropped, nothing is paused."""
    make_world(session)
    say("bukan saya")
    assert "Ketik *Isi Survei*" in say("tidak").replies[0]
    session.rollback()
    assert session.exec(select(RespondentCase)).one().status == "cancelled"
    assert session.exec(select(Hold)).first() is None


def test_wrong_number_stops_every_message_to_that_number_for_that_person(session: Session) -> None:
    """An invitation waiting and reminders later: after "nomor salah" + YA nothing more is waiting
    or enqueued for that person at that number (the control respondent still gets a reminder)."""
    world = make_world(session)
    other = factories.make_person(session, world.unit, phone="+6281200000002", name="Sari")
    control, _ = factories.make_assignment(session, world.campaign, other)
    session.commit()
    with session_scope(write=True) as s:
        assert enqueue_invitations(s, world.campaign.id) == 2  # type: ignore[arg-type]
    say("maaf pak, nomor salah. Saya tidak kenal Budi")
    assert "tidak akan menerima" in say("ya").replies[0]
    session.rollback()
    waiting = session.exec(select(Outbox).where(Outbox.to_address == PHONE, Outbox.purpose != "reply",
                                                Outbox.status == "pending")).all()
    assert waiting == []
    with session_scope(write=True) as s:
        s.execute(update(Outbox).values(created_at=datetime(2000, 1, 1, tzinfo=UTC)))  # gap passed
        enqueue_reminder(s, world.campaign.id)  # type: ignore[arg-type]
    assert _reminded(session, world.campaign.id) == {control.id}  # type: ignore[arg-type]
    assert session.exec(select(Outbox).where(Outbox.to_address == PHONE, Outbox.purpose == "reminder")).all() == []


def _agent_conversation(session: Session) -> AgentConversation:
    session.rollback()
    return session.exec(select(AgentConversation)).one()


def test_unanswerable_question_reaches_an_agent_whose_reply_arrives(session: Session) -> None:
    """After the FAQ menu, a question the bot cannot answer opens a conversation for the
    institution's agents (unread 1); the agent's reply is enqueued to the respondent."""
    world = make_world(session)
    say("tanya spi")
    handed = say("apakah pegawai yang sedang cuti melahirkan tetap wajib mengisi?")
    assert handed.intent == "agent" and "call center" in handed.replies[0]
    conv = _agent_conversation(session)
    assert conv.institution_id == world.institution.id and conv.unread == 1
    with session_scope(write=True) as s:
        callcentre.reply(s, s.get(AgentConversation, conv.id), "Tetap diisi bila sudah aktif, Bu.", agent="cc1")  # type: ignore[arg-type]
    session.rollback()
    assert replies_to(session, PHONE)[-1] == "Tetap diisi bila sudah aktif, Bu."
    conv = _agent_conversation(session)
    assert conv.unread == 0 and conv.first_response_at is not None
    lines = callcentre.history(session, conv)
    assert [line.direction for line in lines][-1] == "out" and lines[-1].by_agent


def test_agent_reply_after_24_hours_is_refused_with_the_reason(session: Session) -> None:
    """The respondent wrote 25 h ago: a free-form reply is refused (the window has closed) and
    nothing is enqueued."""
    make_world(session)
    say("tanya spi")
    say("bagaimana kalau saya sedang tugas luar?")
    with session_scope(write=True) as s:
        s.execute(update(InboundMessage).values(received_at=datetime.now(UTC) - timedelta(hours=25)))
    before = len(replies_to(session, PHONE))
    conv = _agent_conversation(session)
    with session_scope(write=True) as s, pytest.raises(callcentre.ReplyRefused, match="24 jam"):
        callcentre.reply(s, s.get(AgentConversation, conv.id), "Baik, Pak.", agent="cc1")  # type: ignore[arg-type]
    session.rollback()
    assert len(replies_to(session, PHONE)) == before


def test_outside_hours_the_respondent_is_told_when_a_person_answers() -> None:
    """23:00 WIB is closed: the reply names tomorrow 08.30; 10:00 WIB is open."""
    night = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 23:00 WIB
    assert not callcentre.is_open(night)
    assert callcentre.next_opening(night) == datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    assert "08.30" in callcentre.handover_text(night)
    assert callcentre.is_open(datetime(2026, 12, 7, 3, 0, tzinfo=UTC))


def test_qr_consent_text_is_the_registration_checkbox_word_for_word() -> None:
    """The stored consent text is what the registration form shows (else the proof is wrong)."""
    from bot.consent import texts

    page = " ".join((ROOT / "templates/qr/register.html").read_text().split())
    assert " ".join(str(texts()["qr_registration"]["text"]).split()) in page


# --- the sandbox simulator (the same path as a webhook, then the worker sends) -----------------


@pytest.fixture
def no_quiet_hours(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from core.config import reset_settings

    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    reset_settings()
    yield
    reset_settings()


def _chat(session: Session, phone: str = PHONE) -> list[str]:
    from dispatch import sandbox_conversation

    session.rollback()
    return [m.text for m in sandbox_conversation(session, phone)]


def test_simulator_bukan_saya_then_pic_drops_and_an_agent_answers(
        no_quiet_hours: None, client: TestClient, session: Session) -> None:
    """In the simulator: "bukan saya" → YA → the PIC drops the respondent → the answer is
    delivered; then a question the bot cannot answer reaches an agent, whose reply is delivered."""
    world = make_world(session)
    post = f"/sandbox/whatsapp/{world.person.id}"
    assert client.post(post, data={"text": "Maaf, ini bukan saya"}).status_code == 200
    assert "Apakah benar?" in _chat(session)[-1]
    client.post(post, data={"text": "iya"})
    assert "PIC SPI Kabupaten Katingan" in _chat(session)[-1]
    case = session.exec(select(RespondentCase)).one()
    with session_scope(write=True) as s:
        assert cases.drop(s, s.get(RespondentCase, case.id), actor="pic@ktg") == "reply"
    from dispatch import run_until_idle

    run_until_idle(timeout=10)
    assert "tidak perlu Anda isi" in _chat(session)[-1]

    client.post(post, data={"text": "Tanya SPI"})
    client.post(post, data={"text": "apakah saya tetap dapat sertifikat?"})
    assert "call center" in _chat(session)[-1]
    conv = session.exec(select(AgentConversation)).one()
    with session_scope(write=True) as s:
        callcentre.reply(s, s.get(AgentConversation, conv.id), "Tidak ada sertifikat, Pak.", agent="cc1")  # type: ignore[arg-type]
    run_until_idle(timeout=10)
    assert _chat(session)[-1] == "Tidak ada sertifikat, Pak."


def test_wrong_number_nothing_more_is_delivered_after_reminders_and_the_worker_run(
        no_quiet_hours: None, session: Session) -> None:
    """The invitation was delivered; after "salah sambung" + YA, reminders are enqueued and the
    worker runs: the number receives nothing but the bot's own answer."""
    from dispatch import run_until_idle

    world = make_world(session)
    with session_scope(write=True) as s:
        enqueue_invitations(s, world.campaign.id)  # type: ignore[arg-type]
    run_until_idle(timeout=10)
    assert len(_chat(session)) == 1  # the invitation
    say("salah sambung pak")
    say("ya")
    run_until_idle(timeout=10)
    delivered = len(_chat(session))
    with session_scope(write=True) as s:
        s.execute(update(Outbox).values(created_at=datetime(2000, 1, 1, tzinfo=UTC)))
        enqueue_reminder(s, world.campaign.id)  # type: ignore[arg-type]
        enqueue_reminder(s, world.campaign.id, purpose="last_call")  # type: ignore[arg-type]
    run_until_idle(timeout=10)
    chat = _chat(session)
    assert len(chat) == delivered and "tidak akan menerima" in chat[-1]


def test_the_purge_removes_cases_conversations_and_consent_proofs(session: Session) -> None:
    """A purged campaign leaves no case, call-centre conversation or opt-in proof of its number."""
    from integrity import purge

    world = make_world(session)
    say("salah unit")
    say("ya")
    say("tanya spi")
    say("apakah data saya aman kalau pindah?")
    session.rollback()
    assert session.exec(select(ContactConsent)).first() is not None
    assert session.exec(select(AgentConversation)).first() is not None
    with session_scope(write=True) as s:
        from core.models import Campaign

        campaign = s.get(Campaign, world.campaign.id)
        assert campaign is not None
        long_ago = datetime.now(UTC) - timedelta(days=800)
        campaign.opens_at, campaign.closes_at, campaign.status = long_ago, long_ago + timedelta(days=30), "closed"
        s.add(campaign)
    with session_scope(write=True) as s:
        result = purge.purge_campaign(s, world.campaign.id, "test")  # type: ignore[arg-type]
    assert result.tables["bot_case"] == 1 and result.tables["bot_consent"] >= 1
    session.rollback()
    for model in (RespondentCase, AgentConversation, ContactConsent):
        assert session.exec(select(model)).all() == [], model
