"""Operational alerts (dispatch.alerts.check_ops): each condition emails the admins once per
incident, nothing while it lasts, and again only after it has cleared and come back."""

from __future__ import annotations

from collections import namedtuple
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from core.clock import utcnow
from core.config import reset_settings
from dispatch import alerts, holds
from dispatch.models import DeliveryEvent, HoldScope, Outbox, Purpose, Status, WorkerHeartbeat
from dispatch.service import enqueue_invitations
from tests.dispatch.helpers import campaign_with

Usage = namedtuple("Usage", "total used free")
ROOMY = Usage(100 * 2**30, 10 * 2**30, 90 * 2**30)


def roomy(_: str) -> Usage:
    return ROOMY


@pytest.fixture(autouse=True)
def _admins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_EMAILS", "admin@contoh.go.id, pic@contoh.go.id")
    reset_settings()


def alert_rows(session: Session) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.purpose == Purpose.alert)))


def test_a_paused_lane_alerts_once_and_again_after_resume(session: Session) -> None:
    """Proves idempotence and re-arming on a hold: 2 emails (one per admin) when it appears,
    none on the next runs, 2 more after it was lifted and set again."""
    holds.hold(session, HoldScope.campaign, "7", reason="paused by the PIC", actor="pic@contoh.go.id")
    assert alerts.check_ops(session, disk_usage=roomy)["alerted"] == ["hold:campaign:7"]
    assert alerts.check_ops(session, disk_usage=roomy)["alerted"] == []
    assert len(alert_rows(session)) == 2
    holds.resume(session, HoldScope.campaign, "7", actor="pic@contoh.go.id")
    assert alerts.check_ops(session, disk_usage=roomy)["closed"] == ["hold:campaign:7"]
    holds.hold(session, HoldScope.campaign, "7", reason="paused again", actor="pic@contoh.go.id")
    alerts.check_ops(session, disk_usage=roomy)
    rows = alert_rows(session)
    assert len(rows) == 4 and {r.to_address for r in rows} == {"admin@contoh.go.id", "pic@contoh.go.id"}
    assert "dihentikan sementara" in rows[0].payload["subject"]


def test_a_sender_held_by_the_worker_is_not_alerted_twice(session: Session) -> None:
    """Proves the job does not repeat the email dispatch.alerts.sender_held already sent."""
    holds.hold(session, HoldScope.sender, "whatsapp:+628111919476", reason="bad ContentSid", code="config")
    alerts.sender_held(session, "whatsapp:+628111919476", "config", "bad ContentSid")
    assert len(alert_rows(session)) == 2
    assert alerts.check_ops(session, disk_usage=roomy)["alerted"] == []
    assert len(alert_rows(session)) == 2


def test_a_silent_worker_is_emailed_directly(session: Session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    """Proves: a heartbeat older than ALERT_WORKER_SILENT_MINUTES sends one email straight through
    SMTP (the outbox would wait for a worker), once; a new heartbeat closes the incident."""
    now = utcnow()
    session.add(WorkerHeartbeat(worker="vm1:42", started_at=now - timedelta(hours=1),
                                seen_at=now - timedelta(minutes=6)))
    session.commit()
    assert alerts.check_ops(session, now=now, disk_usage=roomy)["alerted"] == ["worker_silent"]
    assert alerts.check_ops(session, now=now, disk_usage=roomy)["alerted"] == []
    assert len(smtp_server.messages) == 2 and alert_rows(session) == []
    assert "tidak aktif" in str(smtp_server.messages[0]["Subject"])
    session.commit()  # (the job's transaction ends before the worker writes)
    alerts.beat("vm1:42", now - timedelta(hours=1), 10, now=now)
    session.expire_all()
    assert alerts.check_ops(session, now=now, disk_usage=roomy)["closed"] == ["worker_silent"]


def test_a_worker_that_beats_is_not_silent(session: Session) -> None:
    """Proves the threshold: a heartbeat 4 minutes old (limit 5) raises nothing."""
    now = utcnow()
    alerts.beat("vm1:43", now, 0, now=now - timedelta(minutes=4))
    assert alerts.check_ops(session, now=now, disk_usage=roomy)["open"] == []


def test_callback_lag_alerts_when_enough_messages_have_no_callback(session: Session) -> None:
    """Proves the callback-lag condition: 5 Twilio messages sent 20 minutes ago without any status
    callback open it; once 1 of them has a callback (4 left, fewer than 5), it closes."""
    campaign, _, _, _ = campaign_with(session, 5, email=False)
    enqueue_invitations(session, campaign.id)
    now = utcnow()
    rows = list(session.exec(select(Outbox)))
    for n, row in enumerate(rows):
        row.status, row.backend, row.provider_id = Status.sent, "twilio", f"SM{n:032d}"
        row.sent_at = now - timedelta(minutes=20)
    session.commit()
    assert alerts.check_ops(session, now=now, disk_usage=roomy)["alerted"] == ["callback_lag"]
    session.add(DeliveryEvent(provider_id=rows[0].provider_id, status="sent", received_at=now))
    session.commit()
    assert alerts.check_ops(session, now=now, disk_usage=roomy)["closed"] == ["callback_lag"]


def test_disk_nearly_full_alerts_once(session: Session, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Proves the disk check on DATA_DIR and ALERT_DISK_PATHS (the free space is the test's own
    figure, not the machine's): 500 MB free of 100 GB opens one incident per disk, once."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERT_DISK_PATHS", str(spool))
    reset_settings()
    usage = {str(tmp_path): Usage(100 * 2**30, 0, 500 * 2**20), str(spool): Usage(10 * 2**30, 0, 5 * 2**30)}
    result = alerts.check_ops(session, disk_usage=lambda p: usage[p])
    assert result["alerted"] == [f"disk:{tmp_path}"]  # the spool's disk has 50% free
    assert alerts.check_ops(session, disk_usage=lambda p: usage[p])["alerted"] == []
    text = alert_rows(session)[0].payload["text"]
    assert "500 MB" in text
    usage[str(tmp_path)] = ROOMY
    assert alerts.check_ops(session, disk_usage=lambda p: usage[p])["closed"] == [f"disk:{tmp_path}"]
