"""The WhatsApp messaging limit on the sandbox channel, in simulated time: never more unique
numbers in a rolling 24 h than WHATSAPP_DAILY_LIMIT, waiting rows stay pending (not failed), the
worker's --once run stops when nothing more may go now, and the plan foresees the last day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from sqlmodel import Session

from core.config import reset_settings
from dispatch import limits
from dispatch.models import Outbox, WhatsAppReach
from dispatch.service import enqueue_invitations, enqueue_reminder, enqueue_reply
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with

START = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)  # 09:00 WIB


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Iterator[time_machine.Coordinates]:
    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", "10")
    reset_settings()
    with time_machine.travel(START, tick=True) as t:
        yield t


def counts(session: Session) -> dict[str, int]:
    session.commit()
    return dict(session.execute(select(Outbox.status, func.count()).where(Outbox.channel == "whatsapp")
                                .group_by(Outbox.status)).all())  # type: ignore[arg-type]


def sent_times(session: Session) -> list[tuple[datetime, str]]:
    session.commit()
    rows = session.execute(select(Outbox.sent_at, Outbox.to_address).where(
        Outbox.channel == "whatsapp", Outbox.sent_at.is_not(None))).all()  # type: ignore[union-attr]
    return sorted((t.replace(tzinfo=UTC) if t.tzinfo is None else t, a) for t, a in rows)


def max_unique_in_24h(sends: list[tuple[datetime, str]]) -> int:
    return max(len({a for t, a in sends if start <= t < start + timedelta(hours=24)}) for start, _ in sends)


def test_a_blast_is_spread_over_days_never_over_the_limit(session: Session, travel) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, _ = campaign_with(session, 35, email=False, closes_at=START + timedelta(days=30))
    enqueue_invitations(session, campaign.id)
    session.commit()
    before = limits.plan(session, limit=10, campaign_id=campaign.id)
    assert before.waiting == 35 and before.days == 4
    assert "± 4 Juli 2026" in limits.describe(before)
    stats = run_until_idle(timeout=20)  # --once: stops with 25 rows waiting for the window
    assert stats["sent"] == 10 and stats["failed"] == 0 and stats["deferred"] >= 25
    assert counts(session) == {"delivered": 10, "pending": 25}
    live = limits.plan(session, limit=10, campaign_id=campaign.id)
    assert live.waiting == 25 and live.finish_at is not None and live.finish_at.date() == before.finish_at.date()  # type: ignore[union-attr]
    travel.shift(timedelta(hours=12))
    assert run_until_idle(timeout=20)["sent"] == 0  # the window has not moved yet
    for _ in range(5):  # to T0 + 72 h and a bit: the fourth day's window
        travel.shift(timedelta(hours=12, minutes=1))
        run_until_idle(timeout=20)
    assert counts(session) == {"delivered": 35}
    sends = sent_times(session)
    assert len({a for _, a in sends}) == 35  # each once
    assert max_unique_in_24h(sends) == 10
    assert abs(sends[-1][0] - before.finish_at) < timedelta(days=1)  # type: ignore[operator]


def test_numbers_already_counted_are_free_and_replies_never_count(session: Session, travel) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, _ = campaign_with(session, 10, email=False, closes_at=START + timedelta(days=30),
                                      config={"reminder_min_gap_days": 0})
    enqueue_invitations(session, campaign.id)
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 10
    # The window is full, but a reminder to the same ten numbers starts no new conversation ...
    travel.shift(timedelta(hours=3))
    assert enqueue_reminder(session, campaign.id) == 10
    # ... and a free-form reply (inside the window the respondent opened) never counts.
    other = campaign_with(session, 1, email=False)[3][0][1]
    enqueue_reply(session, to=other.phone or "", body="Terima kasih", key="r1")
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 11
    assert session.execute(select(func.count()).select_from(WhatsAppReach)).scalar_one() == 10


def test_invitations_go_before_reminders_when_the_window_frees(session: Session, travel) -> None:  # type: ignore[no-untyped-def]
    a, _, _, _ = campaign_with(session, 20, email=False, closes_at=START + timedelta(days=30),
                               config={"reminder_min_gap_days": 0})
    enqueue_invitations(session, a.id)
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 10
    travel.shift(timedelta(hours=24, minutes=5))
    assert run_until_idle(timeout=20)["sent"] == 10  # the other ten: the window now holds them
    # Reminders to the first ten (out of the window again) and a new campaign's invitations
    # both wait for the next window; the invitations go first.
    travel.shift(timedelta(hours=1))
    assert enqueue_reminder(session, a.id) == 20
    b, _, _, _ = campaign_with(session, 10, email=False, closes_at=START + timedelta(days=30))
    enqueue_invitations(session, b.id)
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 10  # reminders to the ten numbers in the window: free
    travel.shift(timedelta(hours=24, minutes=2))  # those ten reminders renewed the window
    assert run_until_idle(timeout=20)["sent"] == 10
    session.commit()
    gone = session.execute(select(Outbox.purpose, Outbox.campaign_id).where(
        Outbox.sent_at > START + timedelta(hours=30))).all()
    assert {(p, c) for p, c in gone} == {("invitation", b.id)}
    travel.shift(timedelta(hours=24, minutes=2))
    run_until_idle(timeout=20)
    assert counts(session) == {"delivered": 50}


def test_the_unit_furthest_from_its_target_goes_first(session: Session, travel) -> None:  # type: ignore[no-untyped-def]
    from tests import factories

    filler, _, _, _ = campaign_with(session, 10, email=False)
    enqueue_invitations(session, filler.id)
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 10  # the window is full
    inst = factories.make_institution(session)
    ahead = factories.make_unit(session, inst, name="Unit Maju")
    behind = factories.make_unit(session, inst, name="Unit Tertinggal")
    campaign = factories.make_campaign(session, inst)
    for n in range(10):
        factories.make_assignment(session, campaign, factories.make_person(session, behind, email=None))
        assignment, _ = factories.make_assignment(session, campaign, factories.make_person(session, ahead, email=None))
        if n < 5:
            assignment.responded_at = START  # half of "Unit Maju" already answered
    session.commit()
    assert enqueue_invitations(session, campaign.id) == 15
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 0
    travel.shift(timedelta(hours=24, minutes=5))
    assert run_until_idle(timeout=20)["sent"] == 10
    session.commit()
    first_day = set(session.execute(select(Outbox.unit_id).where(
        Outbox.campaign_id == campaign.id, Outbox.sent_at.is_not(None))).scalars())  # type: ignore[union-attr]
    assert first_day == {behind.id}
