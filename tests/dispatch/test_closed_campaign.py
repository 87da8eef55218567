"""Nothing is sent for a closed campaign: enqueueing refuses with a message, and the worker cancels
(never sends) whatever of it still waits; replies to a respondent still go (issue #21)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from core.campaigns import CampaignClosed, close_campaign
from core.clock import utcnow
from dispatch.models import Outbox
from dispatch.service import enqueue_invitations, enqueue_reminder, enqueue_reply
from tests.dispatch.helpers import campaign_with
from tests.fixtures.browser import outside_event_loop


def _rows(session: Session) -> list[Outbox]:
    session.expire_all()
    return list(session.exec(select(Outbox).order_by(col(Outbox.id))).all())


def test_a_campaign_past_its_closing_date_sends_nothing(session: Session, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    from cli import app

    now = utcnow()
    campaign, _, _, people = campaign_with(session, 3, email=False, opens_at=now - timedelta(days=60),
                                           closes_at=now - timedelta(days=30))
    # Enqueued while it was open and never sent (e.g. the workers were down): still pending.
    assert enqueue_invitations(session, campaign.id, now=now - timedelta(days=59)) == 3  # type: ignore[arg-type]
    session.commit()
    before = len(_rows(session))

    runner = CliRunner()
    refused = runner.invoke(app, ["send", "invitations", "--campaign", str(campaign.id), "--yes"])
    assert refused.exit_code == 1 and "sudah ditutup" in refused.output
    assert len(_rows(session)) == before  # `send invitations` enqueued 0
    with pytest.raises(CampaignClosed):
        enqueue_reminder(session, campaign.id)  # type: ignore[arg-type]
    session.rollback()

    with outside_event_loop():  # the command calls asyncio.run()
        done = runner.invoke(app, ["worker", "--once"])
    assert done.exit_code == 0, done.output
    assert fake_twilio.messages == []  # `worker --once` sent 0, counted at the provider
    rows = _rows(session)
    assert {(r.status, r.error_class) for r in rows} == {("failed", "cancelled")}
    assert all("closed" in (r.error_message or "") for r in rows)


def test_closing_by_hand_stops_what_waits_but_not_replies(session: Session) -> None:
    from dispatch.worker import run_until_idle

    campaign, _, _, people = campaign_with(session, 2, email=False)
    assert enqueue_invitations(session, campaign.id) == 2  # type: ignore[arg-type]
    phone = people[0][1].phone
    assert phone
    enqueue_reply(session, to=phone, body="Survei sudah ditutup.", key="SMclosed1",
                  campaign_id=campaign.id)
    close_campaign(session, campaign, actor="pic.a", reason="Target responden tercapai")
    session.commit()
    with pytest.raises(CampaignClosed, match="sudah ditutup"):
        enqueue_invitations(session, campaign.id)  # type: ignore[arg-type]
    session.rollback()
    stats = run_until_idle(timeout=20)
    assert stats["sent"] == 1 and stats["cancelled"] == 2
    by_purpose = {r.purpose: r.status for r in _rows(session)}
    assert by_purpose == {"invitation": "failed", "reply": "delivered"}
