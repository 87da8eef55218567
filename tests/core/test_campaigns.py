"""The campaign lifecycle (core.campaigns): close with a reason, reopen before the purge, archive;
who, when and why on the campaign and in the audit log (issue #21)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from core.audit import AuditLog
from core.campaigns import (
    LifecycleError,
    archive_campaign,
    close_campaign,
    close_due,
    has_ended,
    reopen_campaign,
)
from core.clock import utcnow
from core.models import Campaign
from tests.factories import make_campaign, make_institution


def _audit(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
    return [(a.actor, a.action, a.details) for a in session.exec(select(AuditLog).order_by(col(AuditLog.id)))]


def test_close_reopen_archive_record_who_when_why(session: Session) -> None:
    campaign = make_campaign(session, make_institution(session))
    assert not has_ended(campaign)
    with pytest.raises(LifecycleError, match="alasan"):
        close_campaign(session, campaign, actor="pic.a", reason="  ")
    close_campaign(session, campaign, actor="pic.a", reason="Target responden tercapai")
    assert campaign.status == "closed" and campaign.closed_by == "pic.a" and campaign.closed_at
    assert campaign.closed_reason == "Target responden tercapai" and has_ended(campaign)
    assert not campaign.is_open()
    with pytest.raises(LifecycleError, match="sudah ditutup"):
        close_campaign(session, campaign, actor="pic.a", reason="lagi")
    with pytest.raises(LifecycleError, match="alasan"):
        reopen_campaign(session, campaign, actor="pic.a", reason="")
    reopen_campaign(session, campaign, actor="pic.a", reason="Diperpanjang KPK")
    assert campaign.status == "open" and campaign.closed_at is None and campaign.is_open()
    with pytest.raises(LifecycleError, match="ditutup"):
        archive_campaign(session, campaign, actor="admin")
    close_campaign(session, campaign, actor="admin", reason="Selesai")
    archive_campaign(session, campaign, actor="admin")
    assert campaign.status == "archived" and campaign.archived_by == "admin" and has_ended(campaign)
    session.commit()
    assert [(actor, action) for actor, action, _ in _audit(session)] == [
        ("pic.a", "campaign.close"), ("pic.a", "campaign.reopen"), ("admin", "campaign.close"),
        ("admin", "campaign.archive")]
    assert _audit(session)[0][2] == {"reason": "Target responden tercapai"}


def test_reopen_needs_a_new_date_once_passed_and_never_after_purge(session: Session) -> None:
    now = utcnow()
    campaign = make_campaign(session, make_institution(session), opens_at=now - timedelta(days=40),
                             closes_at=now - timedelta(days=10), status="closed")
    with pytest.raises(LifecycleError, match="tanggal tutup baru"):
        reopen_campaign(session, campaign, actor="pic.a", reason="Diperpanjang")
    reopen_campaign(session, campaign, actor="pic.a", reason="Diperpanjang",
                    closes_at=now + timedelta(days=7))
    assert campaign.status == "open" and campaign.is_open()
    campaign.status = "purged"
    with pytest.raises(LifecycleError, match="dihapus"):
        reopen_campaign(session, campaign, actor="pic.a", reason="x", closes_at=now + timedelta(days=7))


def test_close_due_closes_past_campaigns_once(session: Session) -> None:
    now = utcnow()
    inst = make_institution(session)
    past = make_campaign(session, inst, opens_at=now - timedelta(days=40), closes_at=now - timedelta(minutes=1))
    current = make_campaign(session, inst)
    session.commit()
    assert close_due(session, now) == [past.id]
    assert close_due(session, now) == []  # idempotent
    session.commit()
    session.expire_all()
    got = session.get(Campaign, past.id)
    assert got is not None and got.status == "closed" and got.closed_by == "system"
    assert session.get(Campaign, current.id).status == "open"  # type: ignore[union-attr]
    assert [(a, act) for a, act, _ in _audit(session)] == [("system", "campaign.close")]
