"""`spibot serve --workers 2`: two web processes share the inbox and the bot's decisions through
the database only. A burst spread over both (with Twilio retries landing on either process, and
one number flooding) is stored once per MessageSid, answered once each, and the flooding number
gets one "please wait": group commit, idempotency and the rate limit hold across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from sqlmodel import Session, func, select

from bot.models import InboundMessage
from core.db import session_scope
from tests import factories
from tests.bot.helpers import inbound_form, make_world, post_signed, replies_to
from tests.fixtures.server import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
FLOOD = "+6281277777777"

pytestmark = pytest.mark.slow


@dataclass
class Served:
    url: str
    workers: list[psutil.Process]  # the web worker processes

    def cpu(self) -> list[float]:
        return [sum(w.cpu_times()[:2]) for w in self.workers]


@pytest.fixture
def two_workers(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    from core.config import reset_settings

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("PUBLIC_BASE_URL", url)
    reset_settings()
    proc = subprocess.Popen(
        [sys.executable, "cli.py", "serve", "--workers", "2", "--no-worker", "--no-scheduler",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "LOG_LEVEL": "WARNING"})
    try:
        wait_until_healthy(url, proc)
        workers = [child for child in psutil.Process(proc.pid).children()
                   if "spawn_main" in " ".join(child.cmdline())]  # not multiprocessing's tracker
        assert len(workers) == 2
        yield Served(url, workers)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _undecided() -> int:
    with session_scope() as s:
        return int(s.exec(select(func.count()).select_from(InboundMessage)
                          .where(InboundMessage.status == "received")).one())


def test_two_web_processes_store_once_answer_once_and_rate_limit(two_workers: Served,
                                                                  session: Session) -> None:
    world = make_world(session)
    phones = [f"+62812666{n:05d}" for n in range(30)]
    for phone in phones:
        factories.make_assignment(session, world.campaign, factories.make_person(session, world.unit, phone=phone))
    session.commit()
    forms = [inbound_form(p, "isi survei", sid=f"SMtwo{n:027d}") for n, p in enumerate(phones)]
    forms += forms  # every webhook retried, on another connection (either process)
    forms += [inbound_form(FLOOD, f"halo {n}", sid=f"SMflood{n:025d}") for n in range(32)]
    def post(form: dict[str, str]) -> int:
        # a new connection per request: both processes accept from the shared socket
        with httpx.Client(base_url=two_workers.url, timeout=30) as http:
            return int(post_signed(http, form).status_code)

    cpu_before = two_workers.cpu()
    with ThreadPoolExecutor(max_workers=46) as pool:
        codes = list(pool.map(post, forms))
    assert codes == [200] * len(forms)
    deadline = time.monotonic() + 30  # the web processes decide on their own (nobody else runs)
    while _undecided() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _undecided() == 0
    used = [after - before for before, after in zip(cpu_before, two_workers.cpu(), strict=True)]
    assert min(used) > 0.1 * sum(used), used  # both processes took part
    session.expire_all()
    assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 30 + 32
    for phone in phones:
        [reply] = replies_to(session, phone)
        assert "/s/" in reply
    statuses = session.exec(select(InboundMessage.status)
                            .where(InboundMessage.from_number == FLOOD)).all()
    assert statuses.count("rate_limited") == 1
    assert set(statuses) <= {"replied", "rate_limited", "ignored"}
    flood_replies = replies_to(session, FLOOD)
    assert len(flood_replies) == statuses.count("replied") + 1
    assert sum("tunggu" in r for r in flood_replies) == 1
