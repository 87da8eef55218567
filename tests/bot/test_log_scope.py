"""A number sampled by two institutions gets one numbered list naming both: each PIC's
conversation log shows only their own institution's survey (issue 9 follow-up)."""

from __future__ import annotations

from sqlmodel import Session

from bot import stats
from bot.service import receive
from core.db import session_scope
from tests.bot.helpers import inbound, make_world, second_survey

PHONE = "+6281200000001"


def say(body: str, phone: str = PHONE) -> None:
    with session_scope(write=True) as s:
        receive(s, inbound(phone, body))


def _texts(session: Session, institution_id: int) -> str:
    return "\n".join(r["text"] for r in stats.conversation_log(session, institution_id, 100, 0))


def test_shared_list_is_redacted_for_each_institution(session: Session) -> None:
    world = make_world(session, phone=PHONE)  # Kabupaten Katingan / Dinas Kependudukan
    other, _ = second_survey(session, PHONE)  # Kota Palangka Raya / DPMPTSP, same number
    say("isi survei")
    other_id = session.get(type(world.campaign), other.campaign_id).institution_id  # type: ignore[union-attr]

    mine = _texts(session, world.institution.id)  # type: ignore[arg-type]
    theirs = _texts(session, other_id)
    assert "Kabupaten Katingan" in mine and "Dinas Kependudukan" in mine  # the list was logged
    assert "Kota Palangka Raya" not in mine and "DPMPTSP" not in mine
    assert stats.OTHER_SURVEY in mine
    assert "Kota Palangka Raya" in theirs and "DPMPTSP" in theirs
    assert "Kabupaten Katingan" not in theirs and "Dinas Kependudukan" not in theirs

    say("1")  # the choice concerns one institution only: the other PIC never sees the answer
    say("2")
    mine, theirs = _texts(session, world.institution.id), _texts(session, other_id)  # type: ignore[arg-type]
    assert "Kota Palangka Raya" not in mine and "DPMPTSP" not in mine
    assert "Kabupaten Katingan" not in theirs and "Dinas Kependudukan" not in theirs


def test_redaction_keeps_own_lines_and_replaces_names_elsewhere() -> None:
    body = ("Pilih survei:\n1. Kabupaten Katingan – Dinas A (Pegawai)\n"
            "2. Kabupaten Katingan Hilir – Dinas B (Pengguna layanan)\nTerima kasih, Kabupaten Katingan Hilir.")
    out = stats.redact_other_institutions(body, ["Kabupaten Katingan Hilir"], "Kabupaten Katingan")
    lines = out.split("\n")
    assert lines[1] == "1. Kabupaten Katingan – Dinas A (Pegawai)"
    assert lines[2] == f"2. {stats.OTHER_SURVEY}" and "Dinas B" not in out
    assert lines[3] == f"Terima kasih, {stats.OTHER_INSTITUTION}."
