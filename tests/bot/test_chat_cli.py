"""`spibot bot chat --phone …`: the terminal simulator of a whole conversation, driven as a user
would (lines on stdin), through the same path as a real webhook and the sandbox dispatcher."""

from __future__ import annotations

from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.models import InboundMessage
from cli import app
from core.models import OptOut
from dispatch.sandbox import conversation
from tests.bot.helpers import make_world

PHONE = "+6281200000001"


def chat(phone: str, *lines: str) -> str:
    result = CliRunner().invoke(app, ["bot", "chat", "--phone", phone], input="".join(f"{x}\n" for x in lines),
                                terminal_width=60)
    assert result.exit_code == 0, result.output
    return result.output


def test_chat_link_faq_answer_and_stop(db_url: str, session: Session) -> None:
    world = make_world(session, phone=PHONE)
    output = chat(PHONE, "Isi Survei", "Tanya SPI", "4", "0", "STOP", "STOP", "")
    link = f"https://spi.test.example/s/{world.token}"  # PUBLIC_BASE_URL of the tests
    # the personal link on one line, never folded by the terminal's width (60 here)
    assert any(link in line for line in output.splitlines()), output
    assert "Kabupaten Katingan" in output and "Dinas Kependudukan" in output
    answers = output.split("anda> ")[1:]
    assert len(answers) == 7  # six messages, then the empty line that ends the chat
    assert "1. Apa itu SPI?" in answers[1] and "8. Call center" in answers[1]
    assert "10–15 menit" in answers[2]  # topic 4: how long it takes
    assert "1. Apa itu SPI?" in answers[3]  # "0": back to the menu
    assert "tidak akan menerima undangan" in answers[4] and "MULAI" in answers[4]
    assert "tidak ada balasan" in answers[5]  # the opt-out is confirmed once
    session.expire_all()
    assert session.exec(select(OptOut.address)).all() == [PHONE]
    statuses = session.exec(select(InboundMessage.status).order_by(InboundMessage.id)).all()
    assert statuses == ["replied"] * 5 + ["no_reply"]
    # --send (the default) ran the dispatcher: the replies reached the sandbox phone
    sent = [m.text for m in conversation(session, PHONE)]
    assert len(sent) == 5 and world.token in sent[0] and "10–15 menit" in sent[2]


def test_chat_unknown_number_and_bad_phone(db_url: str, session: Session) -> None:
    make_world(session, phone=PHONE)
    output = chat("+6281299999999", "isi survei ya pak")  # Ctrl-D (end of input) ends the chat
    assert "/s/" not in output and "tidak terdaftar sebagai responden SPI" in output
    bad = CliRunner().invoke(app, ["bot", "chat", "--phone", "0812-garbage"], input="halo\n")
    assert bad.exit_code == 2 and "+6281234567890" in bad.output
