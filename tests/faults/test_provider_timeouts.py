"""The provider answering nothing but timeouts for a while (issue #22): every message is
delivered afterwards, within MAX_ATTEMPTS, none twice, counted at the fake provider.

A timeout is the dangerous case: the fake creates the message and answers only after the
client gave up (TWILIO_TIMEOUT_SECONDS 0.5 s, the answer after 1.5 s), so a blind resend would
duplicate it; reconcile must find it instead. "A minute" is shortened to OUTAGE seconds (the
fixture's reconcile delay is 1 s, so the outage spans several reconcile rounds)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlmodel import Session, select

from dispatch.models import Outbox
from dispatch.service import enqueue_invitations
from tests.dispatch.helpers import campaign_with, token_counts
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.slow
OUTAGE = 4.0
N = 20


def test_a_spell_of_timeouts_loses_and_duplicates_nothing(
    fake_twilio: FakeTwilio, session: Session, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.config import get_settings, reset_settings
    from dispatch.worker import run_worker_thread

    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    reset_settings()
    campaign, _, _, _ = campaign_with(session, N, email=False)
    assert enqueue_invitations(session, campaign.id or 0) == N
    session.commit()
    fake_twilio.set_faults(timeout=1.0)  # every create: made at the provider, answered too late
    stop = threading.Event()
    thread = run_worker_thread(stop)
    try:
        time.sleep(OUTAGE)
        timed_out = sum(1 for r in fake_twilio.requests if r["fault"] == "timeout")
        assert timed_out > 0  # the spell was felt
        fake_twilio.set_faults()  # the provider answers again
        deadline = time.monotonic() + 60
        while True:
            session.rollback()
            rows = session.exec(select(Outbox)).all()
            if all(r.status in ("sent", "delivered", "failed", "unknown") for r in rows):
                break
            assert time.monotonic() < deadline, sorted((r.status, r.attempts) for r in rows)
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    counts = token_counts(fake_twilio.messages)
    assert len(counts) == N and set(counts.values()) == {1}  # all delivered, none twice
    assert {r.status for r in rows} <= {"sent", "delivered"}
    assert max(r.attempts for r in rows) <= get_settings().max_attempts
    assert len(fake_twilio.requests) <= N * get_settings().max_attempts
