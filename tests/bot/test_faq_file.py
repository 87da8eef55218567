"""The PIC-edited FAQ: edits apply without a restart, a broken edit never leaves a respondent
without an answer, and the problem is reported (at start and when first met) with what to fix."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.replies import faq_problem
from bot.service import Received, receive
from core.config import reset_settings
from core.db import session_scope
from tests.bot.helpers import inbound, make_world

PHONE = "+6281200000001"
GOOD = """topics:
  - key: jadwal
    title: Jadwal layanan Inspektorat
    answer: Senin sampai Jumat, 08.00-15.00 WITA.
"""


def say(body: str) -> Received:
    with session_scope(write=True) as s:
        return receive(s, inbound(PHONE, body))


@pytest.fixture
def faq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "faq-pic.yaml"
    path.write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("BOT_FAQ_FILE", str(path))
    reset_settings()
    return path


def _edit(path: Path, text: str) -> None:
    stat = path.stat()
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later mtime, as an editor gives


def test_edits_apply_and_a_broken_edit_falls_back_to_the_built_in_faq(
        session: Session, faq: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_world(session)
    session.commit()
    assert "Jadwal layanan Inspektorat" in say("Tanya SPI").replies[0]
    assert faq_problem() is None
    _edit(faq, GOOD.replace("Jadwal layanan Inspektorat", "Jam buka loket"))
    assert "Jam buka loket" in say("Tanya SPI").replies[0]  # no restart needed

    _edit(faq, "topics:\n  - key: x\n    title: [tidak ditutup\n")  # a typo while editing
    with caplog.at_level(logging.ERROR, logger="bot.replies"):
        menu = say("Tanya SPI")
        again = say("Tanya SPI")
    assert menu.status == again.status == "replied"
    assert "1." in menu.replies[0] and "rahasia" in menu.replies[0].lower()  # the built-in FAQ
    assert "Jam buka loket" not in menu.replies[0]
    problem = faq_problem()
    assert problem is not None and str(faq) in problem and "line" in problem
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1  # logged once
    assert str(faq) in caplog.records[0].getMessage()


@pytest.mark.parametrize(("text", "expected"), [
    ("topics: []\n", "no topics"),
    ("- just\n- a list\n", "no topics"),
    ("topics:\n  - key: a\n    title: T\n", "topic 1 lacks answer"),
    ("topics:\n  - hanya teks\n", "topic 1 lacks key, title, answer"),
])
def test_faq_shape_problems_are_named(faq: Path, text: str, expected: str) -> None:
    _edit(faq, text)
    problem = faq_problem()
    assert problem is not None and expected in problem


def test_a_missing_faq_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_FAQ_FILE", str(tmp_path / "tidak-ada.yaml"))
    reset_settings()
    problem = faq_problem()
    assert problem is not None and "tidak-ada.yaml" in problem and "BOT_FAQ_FILE" in problem


def test_the_web_start_reports_a_broken_faq(faq: Path, caplog: pytest.LogCaptureFixture) -> None:
    from fastapi.testclient import TestClient

    from web import create_app

    _edit(faq, "topics: [\n")
    with caplog.at_level(logging.ERROR, logger="web"), TestClient(create_app()):
        pass
    assert any(str(faq) in r.getMessage() for r in caplog.records if r.name == "web")
