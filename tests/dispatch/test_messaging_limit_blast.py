"""A 5,000-respondent campaign on a 1,000-per-24-hours WhatsApp messaging limit, against the fake
Twilio API enforcing the same limit (63018 past 1,000 unique business-initiated recipients in any
rolling 24 h), in simulated time: delivered over five days, counted at the provider."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from sqlmodel import Session

from core.clock import as_utc
from core.config import reset_settings
from dispatch import limits
from dispatch.models import Outbox, Status
from dispatch.service import enqueue_invitations
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import bulk_campaign, token_counts
from tests.fakes.twilio_api import FakeTwilio

N = 5000
LIMIT = 1000
START = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)  # Wednesday 09:00 WIB


def by_status(session: Session) -> dict[str, int]:
    session.commit()
    return dict(session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())  # type: ignore[arg-type]


def next_due(session: Session) -> datetime | None:
    session.commit()
    at = session.execute(select(func.min(Outbox.next_attempt_at)).where(Outbox.status == Status.pending)).scalar()
    return as_utc(at) if at is not None else None


@pytest.mark.slow
def test_five_thousand_on_a_thousand_a_day(session: Session, fake_twilio: FakeTwilio,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", str(LIMIT))
    monkeypatch.setenv("WHATSAPP_RATE_PER_SENDER", "400")  # the test is about days, not seconds
    reset_settings()
    fake_twilio.messaging_limit = LIMIT
    with time_machine.travel(START, tick=True) as clock:
        campaign = bulk_campaign(session, N)
        assert enqueue_invitations(session, campaign.id) == N
        session.commit()
        before = limits.plan(session, limit=LIMIT, campaign_id=campaign.id)
        assert before.waiting == N and before.days == 5 and before.finish_at is not None
        runs = 0
        while (due := next_due(session)) is not None:
            runs += 1
            assert runs <= 12, by_status(session)  # five windows, with room for a quiet-hours wait
            if due > datetime.now(UTC):
                clock.move_to(due + timedelta(seconds=1))
            stats = run_until_idle(timeout=90)  # --once: stops when the window is full
            assert stats["failed"] == 0 and stats["held"] == 0, stats
            if runs == 1:  # after the first day, the live projection keeps the date
                live = limits.plan(session, limit=LIMIT, campaign_id=campaign.id)
                assert live.finish_at is not None
                assert abs(live.finish_at - before.finish_at) < timedelta(days=1)
                now = by_status(session)  # deferred, not failed (a send that timed out was looked up: delivered)
                assert now.get("sent", 0) + now.get("delivered", 0) == LIMIT and now.get("pending") == N - LIMIT, now

    # Counted at the provider: nothing refused, never more than the limit, everyone exactly once.
    refused = Counter(m["error_code"] for m in fake_twilio.messages if m["status"] == "failed")
    assert refused == Counter()  # not a single 63018
    assert fake_twilio.max_unique_in_any_24h(business_initiated_only=True) <= LIMIT
    counts = token_counts(fake_twilio.messages)
    assert len(counts) == N and max(counts.values()) == 1  # 0 lost, 0 duplicates
    final = by_status(session)
    assert set(final) <= {"sent", "delivered"} and sum(final.values()) == N, final
    created = sorted(m["created"] for m in fake_twilio.messages)
    assert timedelta(days=4) <= created[-1] - created[0] < timedelta(days=5)  # over five days
    assert abs(created[-1] - before.finish_at) < timedelta(days=1)  # the projection held
