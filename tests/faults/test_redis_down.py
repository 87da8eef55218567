"""Redis down and back (issue #22): the per-IP windows (the only user of REDIS_URL) fall back to
the process's memory at once, keep limiting, return to Redis when it answers again; the
registrations made meanwhile are each sent their link exactly once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from core.config import reset_settings
from core.models import Assignment
from core.ratewindow import KEY_PREFIX
from tests.fakes.twilio_api import FakeTwilio
from tests.faults.services import RedisInstance
from tests.faults.services import redis_instance as redis_instance  # the fixture
from tests.qr.conftest import build_world
from tests.qr.test_registration import FORM, valid

pytestmark = pytest.mark.slow
RETRY = 0.5  # RETRY_SECONDS for the test: how long the window counts in memory after a failure


@pytest.fixture
def env(redis_instance: RedisInstance, db_url: str,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisInstance]:
    from core import ratewindow

    monkeypatch.setenv("REDIS_URL", redis_instance.url)
    monkeypatch.setenv("QR_IP_LIMIT", "4")
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    monkeypatch.setattr(ratewindow, "RETRY_SECONDS", RETRY)
    reset_settings()
    ratewindow.reset_rate_window()
    yield redis_instance
    ratewindow.reset_rate_window()
    reset_settings()


def _members(instance: RedisInstance) -> int:
    client = redis.Redis.from_url(instance.url)
    try:
        return sum(int(client.zcard(k)) for k in client.scan_iter(match=f"{KEY_PREFIX}*"))
    finally:
        client.close()


def _register(client: TestClient, n: int) -> tuple[int, float]:
    started = time.monotonic()
    reply = client.post(FORM, data=valid(wa=f"08123450{n:04d}"), follow_redirects=False)
    return reply.status_code, time.monotonic() - started


def test_registrations_survive_redis_down_hung_and_back_each_sent_once(
    env: RedisInstance, session: Session, fake_twilio: FakeTwilio,
) -> None:
    from dispatch.worker import run_until_idle
    from web import create_app

    build_world(session)
    codes: list[int] = []
    with TestClient(create_app(), base_url="http://testserver") as client:
        for n in range(2):  # Redis up: counted there
            code, _ = _register(client, n)
            codes.append(code)
        assert _members(env) == 2

        env.stop()  # Redis gone (connection refused): counted in memory, at once
        for n in range(2, 6):
            code, took = _register(client, n)
            codes.append(code)
            assert code == 303 and took < 2.0
        code, _ = _register(client, 6)  # the fallback still limits: 4 in memory
        assert code == 429
        codes.append(code)

        env.start()  # back (empty: no persistence); tried again after RETRY seconds
        time.sleep(RETRY + 0.1)
        code, _ = _register(client, 7)
        codes.append(code)
        assert code == 303 and _members(env) == 1  # shared in Redis again

        assert env.proc is not None
        env.proc.send_signal(signal.SIGSTOP)  # hung: accepts nothing, answers nothing
        try:
            code, took = _register(client, 8)
            codes.append(code)
            # the 0.25 s timeout, then memory, which still holds the 4 of the outage: limited
            assert code == 429 and took < 2.0
        finally:
            env.proc.send_signal(signal.SIGCONT)
    registered = codes.count(303)
    assert registered == 7
    session.rollback()
    assert session.exec(select(func.count()).select_from(Assignment)).one() == registered
    run_until_idle(timeout=30)
    numbers = [m["To"] for m in fake_twilio.messages]
    assert len(numbers) == registered and len(set(numbers)) == registered  # each once
