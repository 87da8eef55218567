"""Signals, flagging, reviews and correction inputs against the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from core.audit import AuditLog
from integrity.models import Review
from integrity.service import (
    ReviewError,
    correction_inputs,
    flag_campaign,
    record_review,
    signals_for_campaign,
)
from responses.models import Response
from tests.integrity.helpers import build_world


def test_signals_find_planted_responses(session: Session) -> None:
    w = build_world(session)
    report = signals_for_campaign(session, w.campaign.id)  # type: ignore[arg-type]
    by_signal = {s: {f.response_id for f in report.flags if f.signal == s} for s in report.by_signal}
    assert w.planted["straight"] <= by_signal["straight_lining"]
    assert w.planted["device"] <= by_signal["burst_device"]
    assert w.planted["fast"] <= by_signal["too_fast"]
    planted = set().union(*w.planted.values())
    flagged = {f.response_id for f in report.flags}
    assert flagged <= planted  # nothing honest is flagged in this small campaign
    assert report.responses == 40 and report.flagged == len(flagged)
    assert sum(u.responses for u in report.units) == 40
    evidence = next(f.evidence for f in report.flags if f.signal == "burst_device")
    assert evidence["count"] == 4 and len(evidence["members"]) == 4


def test_flag_is_idempotent_and_keeps_responses(session: Session) -> None:
    w = build_world(session)
    cid = w.campaign.id
    first = flag_campaign(session, cid, actor="pic@test")  # type: ignore[arg-type]
    session.commit()
    assert first >= 11
    assert flag_campaign(session, cid, actor="pic@test") == 0  # type: ignore[arg-type]
    session.commit()
    rows = session.exec(select(Response).where(Response.campaign_id == cid)).all()
    assert len(rows) == 40  # nothing dropped
    flagged = {r.id for r in rows if r.flagged}
    assert set().union(*w.planted.values()) <= flagged
    assert {r.review_status for r in rows if r.flagged} == {"pending"}
    assert {r.review_status for r in rows if not r.flagged} == {None}
    assert session.exec(select(AuditLog).where(AuditLog.action == "integrity.flag")).all()


def test_review_decisions_feed_correction_inputs(session: Session) -> None:
    w = build_world(session)
    cid = w.campaign.id
    flag_campaign(session, cid)  # type: ignore[arg-type]
    session.commit()
    before = correction_inputs(session, cid)  # type: ignore[arg-type]
    assert before.responses == 40
    assert before.interviewer_share == pytest.approx(4 / 40)  # source "import"
    assert before.anomaly_share == pytest.approx(7 / 40)  # 4 straight-lining + 3 too fast
    assert before.coaching_share is not None and before.coaching_share >= 4 / 40
    assert before.pending_reviews >= 11

    straight = sorted(w.planted["straight"])
    assert record_review(session, straight[0], "kept", "reviewer@kpk") >= 1
    record_review(session, straight[1], "excluded", "reviewer@kpk", note="jawaban seragam")
    session.commit()
    after = correction_inputs(session, cid)  # type: ignore[arg-type]
    assert after.anomaly_share == pytest.approx(6 / 40)  # the kept one no longer counts
    assert after.excluded_share == pytest.approx(1 / 40)
    assert after.pending_reviews < before.pending_reviews
    review = session.exec(select(Review).where(Review.response_id == straight[1])).first()
    assert review and review.decision == "excluded" and review.reviewer == "reviewer@kpk"
    assert review.decided_at is not None
    assert session.get(Response, straight[1]).review_status == "excluded"  # type: ignore[union-attr]
    actions = session.exec(select(AuditLog.action)).all()
    assert actions.count("integrity.review") == 2


def test_review_refuses_bad_input(session: Session) -> None:
    w = build_world(session, n=12)
    flag_campaign(session, w.campaign.id)  # type: ignore[arg-type]
    with pytest.raises(ReviewError, match="unknown decision"):
        record_review(session, w.responses[0].id, "delete", "x")  # type: ignore[arg-type]
    with pytest.raises(ReviewError, match="does not exist"):
        record_review(session, 10**9, "kept", "x")
    honest = w.responses[-1]
    assert not honest.flagged
    with pytest.raises(ReviewError, match="no integrity flag"):
        record_review(session, honest.id, "kept", "x")  # type: ignore[arg-type]
