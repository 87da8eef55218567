"""Exactly once at scale, on PostgreSQL: several worker processes, a SIGKILL mid-blast, provider
faults. Each respondent must receive exactly one invitation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.config import reset_settings
from core.tokens import token_for
from dispatch.models import Outbox
from dispatch.service import enqueue_invitations
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import bulk_campaign, campaign_with, token_counts
from tests.fakes.twilio_api import add_content_remote, fetch_messages, start_process
from tests.fixtures.server import free_port

ROOT = Path(__file__).resolve().parents[2]
N = int(os.environ.get("SPIBOT_SCALE_N", "10000"))  # the issue asks for 10,000


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker subprocesses started by a test; killed at the end whatever happens."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fake Twilio API in its own process: at 10,000 messages it must not share our GIL."""
    proc, url = start_process(free_port())
    monkeypatch.setenv("WHATSAPP_BACKEND", "twilio")
    monkeypatch.setenv("TWILIO_API_BASE_URL", url)
    for template in ("invitation", "reminder", "registration"):  # approved templates of the account
        monkeypatch.setenv(f"TWILIO_CONTENT_SID_{template.upper()}", add_content_remote(url, f"spi_{template}"))
    reset_settings()
    yield url
    proc.kill()
    proc.wait()
    reset_settings()


def start_worker(started: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.dispatch.worker_main", *args], cwd=ROOT, env=dict(os.environ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started.append(proc)
    return proc


def finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()[-2000:]


def statuses(session: Session) -> dict[str, int]:
    session.commit()
    return dict(session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())  # type: ignore[arg-type]


def all_tokens(session: Session, campaign_id: int) -> set[str]:
    from core.models import Assignment

    nonces = session.execute(select(Assignment.token_nonce).where(Assignment.campaign_id == campaign_id)).scalars()
    return {token_for(n) for n in nonces}


def pg_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several worker processes: PostgreSQL (SQLite runs one worker)")


@pytest.mark.slow
def test_three_workers_send_each_invitation_once(db_url: str, session: Session, fake_api: str, workers) -> None:  # type: ignore[no-untyped-def]
    pg_only(db_url)
    campaign = bulk_campaign(session, N)
    assert enqueue_invitations(session, campaign.id) == N
    session.commit()
    for _ in range(3):
        start_worker(workers, "--once")
    for w in workers:
        finish(w)
    messages = fetch_messages(fake_api)
    counts = token_counts(messages)
    assert len(messages) == N
    assert set(counts) == all_tokens(session, campaign.id)
    assert [t for t, c in counts.items() if c > 1] == []
    assert statuses(session) == {"sent": N}  # every result recorded by its worker: none left to reconcile


@pytest.mark.slow
def test_sigkill_mid_blast_then_restart(db_url: str, session: Session, fake_api: str, workers, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pg_only(db_url)
    monkeypatch.setenv("LEASE_SECONDS", "5")
    reset_settings()
    campaign = bulk_campaign(session, N)
    enqueue_invitations(session, campaign.id)
    session.commit()
    worker = start_worker(workers)
    deadline = time.monotonic() + 120
    while statuses(session).get("sent", 0) < N // 4:
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    at_kill = statuses(session)
    assert at_kill.get("sending", 0) > 0  # killed with messages in flight
    finish(start_worker(workers, "--once"))
    counts = token_counts(fetch_messages(fake_api))
    duplicates = sorted(t for t, c in counts.items() if c > 1)
    assert duplicates == [], f"{len(duplicates)} respondents got the invitation twice"
    assert set(counts) == all_tokens(session, campaign.id)
    after = statuses(session)  # a reconciled row takes the status the provider reports now
    assert set(after) <= {"sent", "delivered"} and sum(after.values()) == N, after
    reconciled = session.execute(select(func.count()).where(Outbox.error_class == "reconciled")).scalar()
    assert reconciled and reconciled > 0  # stuck rows were looked up, not resent blindly


@pytest.mark.slow
def test_provider_faults_still_deliver_exactly_once(session: Session, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    fake_twilio.set_faults(rate_limited=0.08, server_error=0.07, timeout=0.05)
    campaign, _, _, people = campaign_with(session, 200, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    stats = run_until_idle(timeout=60)
    counts = token_counts(fake_twilio.messages)
    assert [t for t, c in counts.items() if c > 1] == []
    assert len(counts) == 200
    after = statuses(session)  # timed-out sends were looked up: they take the status Twilio reports
    assert set(after) <= {"sent", "delivered"} and sum(after.values()) == 200, after
    faults = [r for r in fake_twilio.requests if r["fault"]]
    assert len(faults) > 20  # the faults really happened
    assert stats["ambiguous"] > 0 and stats["retried"] > 0
    session.commit()
    assert session.execute(select(func.max(Outbox.attempts))).scalar() <= 6  # bounded attempts
