"""The inbound spool (bot.spool): webhooks arriving while the database is down are kept on disk,
answered 200, and stored and answered once the database is back, in order, each once."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from bot import spool
from bot.models import InboundMessage
from core.clock import utcnow
from core.config import reset_settings
from core.db import dispose_engines, get_engine
from tests.bot.helpers import inbound_form, make_world, post_signed, replies_to, settle
from tests.faults.services import PgCluster
from tests.faults.services import pg_cluster as pg_cluster  # the fixture

PHONE = "+6281200000001"
OTHER = "+6281200000002"


@pytest.fixture
def spool_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """DATA_DIR in the test's directory; the drainer retries every 0.1 s."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(spool, "RETRY_SECONDS", 0.1)
    monkeypatch.setattr(spool, "MAX_RETRY_SECONDS", 0.2)
    spool.stop()  # no drainer of an earlier test (with its own DATA_DIR and database) runs on
    reset_settings()
    yield tmp_path / "data" / spool.DIRECTORY
    spool.stop()
    reset_settings()


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_put_makes_one_whole_file_per_message_sid(spool_env: Path) -> None:
    """A retry of a MessageSid adds nothing and keeps the first arrival; nothing but whole entries
    (no temp file) is left; an odd MessageSid gets a safe file name; entries list oldest first."""
    first = inbound_form(PHONE, "Isi Survei", sid="SMspool0000000000000000000000000001")
    assert spool.put(first) is True
    arrived = spool.entries()[0].arrived
    assert spool.put({**first, "Body": "changed"}) is False  # Twilio's retry of the same sid
    assert spool.put(inbound_form(PHONE, "halo", sid="../../etc/passwd")) is True
    names = _files(spool_env)
    assert ".drain.lock" not in names  # put never takes the drain lock
    assert [n for n in names if not n.endswith(".json")] == []
    assert len(names) == 2 and "SMspool0000000000000000000000000001.json" in names
    assert all("/" not in n and not n.startswith(".") for n in names)
    [one, two] = spool.entries()
    assert (one.form["Body"], one.arrived) == ("Isi Survei", arrived)
    assert two.form["Body"] == "halo"
    assert oct(os.stat(one.path).st_mode & 0o777) == "0o600"  # phone numbers and texts


def test_an_unreadable_entry_is_set_aside_not_blocking(spool_env: Path, db_url: str) -> None:
    """A damaged file (not one `put` writes) goes to failed/; the good entry behind it is stored."""
    spool.put(inbound_form(PHONE, "Isi Survei", sid="SMgood"))
    (spool_env / "SMbroken.json").write_text("{not json")
    assert spool.drain_once() == (1, False)
    assert _files(spool_env / spool.FAILED) == ["SMbroken.json"]


def test_a_replayed_entry_is_harmless(spool_env: Path, db_url: str, session: Session) -> None:
    """A crash after the drain committed but before it deleted the file replays the entry: the
    MessageSid idempotency in the database stores and answers it once (on both backends)."""
    make_world(session)
    form = inbound_form(PHONE, "Isi Survei", sid="SMreplay")
    spool.put(form)
    [entry] = spool.entries()
    kept = entry.path.read_bytes()
    assert spool.drain_once() == (1, False)
    settle()
    entry.path.write_bytes(kept)  # as if the unlink never happened
    assert spool.drain_once() == (1, False)  # "stored": the insert did nothing
    settle()
    session.rollback()  # a new snapshot
    assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 1
    assert len(replies_to(session, PHONE)) == 1
    assert _files(spool_env) == [".drain.lock"]


def test_while_entries_wait_new_webhooks_queue_behind_them(
    spool_env: Path, db_url: str, session: Session, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the database up but the spool not yet drained, a new webhook is spooled behind the
    waiting entries rather than stored ahead of them: the "Tanya SPI" menu is answered before
    the "4" that chooses from it."""
    from web import create_app

    make_world(session)
    monkeypatch.setattr(spool, "kick", lambda: None)  # no drainer: the spool stays as it is
    spool.put(inbound_form(PHONE, "Tanya SPI", sid="SMwaiting1"))
    with TestClient(create_app()) as client:
        assert post_signed(client, inbound_form(PHONE, "4", sid="SMbehind2")).status_code == 200
    assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 0
    assert [e.form["MessageSid"] for e in spool.entries()] == ["SMwaiting1", "SMbehind2"]
    assert spool.drain_once() == (2, False)
    settle()
    session.rollback()  # a new snapshot (the count above held the old one)
    menu, answer = replies_to(session, PHONE)
    assert "Tanya SPI" in menu and "10–15 menit" in answer


def test_stored_with_its_arrival_time(spool_env: Path, db_url: str, session: Session) -> None:
    """The drained message keeps the time it arrived (rate limits and answers judge by it)."""
    make_world(session)
    spool.put(inbound_form(PHONE, "Isi Survei", sid="SMlate"))
    arrived = spool.entries()[0].received_at
    time.sleep(0.3)
    spool.drain_once()
    stored = session.exec(select(InboundMessage.received_at)).one()
    assert stored is not None and abs((stored - arrived).total_seconds()) < 0.001


@pytest.mark.slow
def test_webhooks_while_postgresql_is_down_are_answered_once_in_order_when_it_is_back(
    pg_cluster: PgCluster, spool_env: Path, monkeypatch: pytest.MonkeyPatch, fake_twilio: object,
) -> None:
    """The database stops; signed webhooks (with Twilio retries of the same MessageSid) still get
    200 and become one spool file per MessageSid; the database comes back; the drainer stores
    them; each is answered exactly once, in the order it arrived, counted at the fake provider."""
    from core.migrate import upgrade
    from dispatch.worker import run_until_idle
    from web import create_app

    upgrade(pg_cluster.url)
    monkeypatch.setenv("DATABASE_URL", pg_cluster.url)
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    reset_settings()
    try:
        with Session(get_engine(pg_cluster.url), expire_on_commit=False) as session:
            world = make_world(session, phone=PHONE)
            from tests import factories
            factories.make_assignment(session, world.campaign,
                                      factories.make_person(session, world.unit, phone=OTHER))
            session.commit()
        sequence = [(PHONE, "Isi Survei"), (OTHER, "Isi Survei"), (PHONE, "Tanya SPI"),
                    (PHONE, "4"), (OTHER, "Tanya SPI"), (PHONE, "STOP")]
        forms = [inbound_form(p, body, sid=f"SMdown{n:028d}") for n, (p, body) in enumerate(sequence)]
        with TestClient(create_app()) as client:
            pg_cluster.stop()
            before = utcnow()
            for n, form in enumerate(forms):
                assert post_signed(client, form).status_code == 200
                if n % 2 == 0:  # Twilio retries some: still one file each
                    assert post_signed(client, form).status_code == 200
            after = utcnow()
            assert len([n for n in _files(spool_env) if n.endswith(".json")]) == len(forms)
            time.sleep(0.5)  # the drainer keeps failing meanwhile: nothing lost, nothing stored
            assert len(spool.entries()) == len(forms)
            pg_cluster.start()
            deadline = time.monotonic() + 30
            while spool.has_entries() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not spool.has_entries(), "the drainer did not empty the spool"
            retry = post_signed(client, forms[0])  # a late retry once it is stored: still one
            assert retry.status_code == 200
        settle()
        for phone in (PHONE, OTHER):
            fake_twilio.inbound(phone)  # type: ignore[attr-defined] # the user wrote: replies may go out
        run_until_idle(timeout=30)
        with Session(get_engine(pg_cluster.url)) as session:
            rows = session.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all()
            assert [r.message_sid for r in rows] == [f["MessageSid"] for f in forms]  # arrival order
            assert all(r.received_at is not None and before <= r.received_at <= after for r in rows)
            assert {r.status for r in rows} == {"replied"}
            mine, other = replies_to(session, PHONE), replies_to(session, OTHER)  # decided order
        assert len(mine) == 4 and len(other) == 2
        assert f"/s/{world.token}" in mine[0] and "Tanya SPI" in mine[1]
        assert "10–15 menit" in mine[2] and "MULAI" in mine[3]  # "4" answered after the menu
        assert "/s/" in other[0] and "Tanya SPI" in other[1]
        for phone, bodies in ((PHONE, mine), (OTHER, other)):  # each sent once at the provider
            sent = [m["Body"] for m in fake_twilio.to(phone)]  # type: ignore[attr-defined]
            assert sorted(sent) == sorted(bodies)
    finally:
        dispose_engines()


def test_a_new_web_process_drains_what_an_earlier_one_left(
    spool_env: Path, db_url: str, session: Session,
) -> None:
    """Entries spooled by a process that stopped before the database came back are stored and
    answered when the next web process starts, without waiting for another webhook."""
    from web import create_app

    make_world(session)
    spool.put(inbound_form(PHONE, "Isi Survei", sid="SMleftover1"))
    with TestClient(create_app()):
        deadline = time.monotonic() + 20
        while spool.entries() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert spool.entries() == []
    settle()
    session.rollback()
    assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 1
    assert len(replies_to(session, PHONE)) == 1
