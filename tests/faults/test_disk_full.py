"""The disk full under the inbound spool or the SQLite database (issue #22): the webhook answers
503 (Twilio tries again later) with a log line saying why, nothing is half-written (no partial
spool entry, SQLite's integrity_check ok), and once there is room again the retried messages are
taken, each once. The disk is a small tmpfs of the test's own (skipped, saying so, where this
process may not mount one)."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from bot import spool
from bot.models import InboundMessage
from core.config import reset_settings
from core.db import dispose_engines, get_engine
from tests.bot.helpers import inbound_form, make_world, post_signed, replies_to, settle
from tests.faults.services import free_port, small_tmpfs

pytestmark = pytest.mark.slow
PHONE = "+6281200000001"


@pytest.fixture
def full_disk() -> Iterator[Path]:
    with small_tmpfs("4m") as where:
        if where is None:
            pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN): "
                        "the disk-full tests need one")
        yield where


def _fill(where: Path) -> Path:
    """Take every free byte of the file system at `where`; returns the filler to delete."""
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def _leftovers(directory: Path) -> list[str]:
    """Anything in the spool directory but whole entries and the drain lock."""
    if not directory.exists():
        return []
    return [p.name for p in directory.iterdir()
            if p.name != ".drain.lock" and not (p.name.endswith(".json") and p.is_file())]


def test_spool_on_a_full_disk_answers_503_and_leaves_nothing_partial(
    full_disk: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """The database is unreachable and the spool's disk is full: 503 and an error logged; no
    partial file; with room again, Twilio's retry is spooled (200), one whole entry."""
    from web import create_app

    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/gone")
    monkeypatch.setenv("DATA_DIR", str(full_disk / "data"))
    monkeypatch.setattr(spool, "RETRY_SECONDS", 0.1)
    reset_settings()
    directory = spool.spool_dir()
    directory.mkdir(parents=True)
    form = inbound_form(PHONE, "Isi Survei " + "x" * 3000, sid="SMfull0000000000000000000000000001")
    try:
        filler = _fill(full_disk)
        with TestClient(create_app()) as client:
            refused = post_signed(client, form)
            assert refused.status_code == 503
            assert "retry" in refused.json()["detail"]
            assert "neither stored nor spooled" in caplog.text
            assert not spool.has_entries() and _leftovers(directory) == []
            filler.unlink()  # room again: Twilio's retry is taken
            assert post_signed(client, form).status_code == 200
        [entry] = spool.entries()
        assert entry.form == form and _leftovers(directory) == []
    finally:
        reset_settings()
        dispose_engines()


def test_sqlite_on_a_full_disk_keeps_a_sound_database_and_loses_nothing(
    full_disk: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLite and the spool share a full disk: webhooks are stored or spooled (200) while room
    lasts, then refused with 503; the database passes integrity_check; with room again the
    refused ones are retried; every message is stored and answered exactly once."""
    from web import create_app

    db = full_disk / "spibot.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(full_disk / "data"))
    monkeypatch.setattr(spool, "RETRY_SECONDS", 0.1)
    reset_settings()
    try:
        with Session(get_engine(url)) as session:
            make_world(session)
        forms = [inbound_form(PHONE, f"Tanya SPI {n} " + "x" * 3500, sid=f"SMsql{n:029d}")
                 for n in range(300)]
        refused: list[dict[str, str]] = []
        filler = _fill(full_disk)
        with TestClient(create_app()) as client:
            for form in forms:
                code = post_signed(client, form).status_code
                assert code in (200, 503)
                if code == 503:
                    refused.append(form)
                if len(refused) >= 3:
                    break
            assert refused, "the disk never filled up"
            assert "neither stored nor spooled" in caplog.text
            assert _leftovers(spool.spool_dir()) == []
            with sqlite3.connect(db) as check:
                assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            filler.unlink()
            for form in refused:  # Twilio's retries, with room again
                assert post_signed(client, form).status_code == 200
            posted = forms[: forms.index(refused[-1]) + 1]
            deadline_ok = _wait_drained()
            assert deadline_ok, "the spool was not drained"
        settle()
        with Session(get_engine(url)) as session:
            sids = session.exec(select(InboundMessage.message_sid)).all()
            assert sorted(sids) == sorted(f["MessageSid"] for f in posted)  # all, once each
            assert session.exec(select(func.count()).select_from(InboundMessage)
                                .where(InboundMessage.status == "received")).one() == 0
            assert len(replies_to(session, PHONE)) >= 1
        with sqlite3.connect(db) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        reset_settings()
        get_engine(url).dispose()
        dispose_engines()


def _wait_drained(timeout: float = 30) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while spool.has_entries():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_filler_helper_really_fills(full_disk: Path) -> None:
    """The helper leaves no byte free (else the tests above would not test a full disk)."""
    _fill(full_disk)
    with pytest.raises(OSError) as caught:
        (full_disk / "one-more").write_bytes(b"x" * 4096)
    assert caught.value.errno == errno.ENOSPC
    assert os.statvfs(full_disk).f_bavail == 0
