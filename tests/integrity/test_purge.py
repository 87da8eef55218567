"""`spibot purge`: contact data of a closed campaign goes after the retention period; results stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.models import ConversationEntry
from core.audit import AuditLog
from core.clock import utcnow
from core.models import Assignment, Campaign, Person
from dispatch.models import Outbox
from integrity.purge import PurgeRefused, purge_campaign
from integrity.service import signals_for_campaign
from responses.models import Response
from tests.factories import make_assignment, make_campaign
from tests.integrity.helpers import build_world

OLD = utcnow() - timedelta(days=800)


def _contact_rows(session: Session, campaign: Campaign) -> None:
    now = utcnow()
    for a in session.exec(select(Assignment).where(Assignment.campaign_id == campaign.id)).all():
        person = session.get(Person, a.person_id)
        assert person and person.phone
        session.add(Outbox(key=f"inv-{a.id}", channel="whatsapp", purpose="invitation",
                           to_address=person.phone, payload={"name": person.name, "nonce": "x"},
                           next_attempt_at=now, created_at=now, campaign_id=campaign.id,
                           assignment_id=a.id, unit_id=a.unit_id))
        session.add(ConversationEntry(at=now, phone=person.phone, direction="in", body="Isi Survei"))
    session.commit()


def _snapshot(session: Session, campaign_id: int) -> dict[int, dict]:
    rows = session.exec(select(Response).where(Response.campaign_id == campaign_id)).all()
    return {int(r.id): dict(r.answers) for r in rows}  # type: ignore[arg-type]


def test_purge_removes_contact_data_and_keeps_results(session: Session) -> None:
    w = build_world(session, n=15, opens=OLD, status="closed")
    cid = int(w.campaign.id)  # type: ignore[arg-type]
    _contact_rows(session, w.campaign)
    # One person is also sampled in a later campaign that is still open: their record stays.
    later = make_campaign(session, w.institution, status="open")
    shared = session.exec(select(Assignment).where(Assignment.campaign_id == cid)).first()
    assert shared
    shared_person = session.get(Person, shared.person_id)
    assert shared_person
    make_assignment(session, later, shared_person)
    session.commit()
    answers_before = _snapshot(session, cid)
    signals_before = signals_for_campaign(session, cid).by_signal

    result = purge_campaign(session, cid, actor="cli:admin")
    session.commit()

    assert result.people == 14 and result.people_kept == 1
    people = session.exec(select(Person).join(Assignment, Assignment.person_id == Person.id)
                          .where(Assignment.campaign_id == cid)).all()
    purged = [p for p in people if p.id != shared_person.id]
    assert all(p.name == "" and p.phone is None and p.email is None for p in purged)
    assert session.get(Person, shared_person.id).phone  # type: ignore[union-attr]
    boxes = session.exec(select(Outbox).where(Outbox.campaign_id == cid)).all()
    assert len(boxes) == 15 and all(b.to_address == "" and b.payload == {} for b in boxes)
    phones = {c.phone for c in session.exec(select(ConversationEntry)).all()}
    assert phones == {shared_person.phone}
    assert _snapshot(session, cid) == answers_before  # answers untouched
    assert signals_for_campaign(session, cid).by_signal == signals_before
    assert session.get(Campaign, cid).status == "purged"  # type: ignore[union-attr]
    entry = session.exec(select(AuditLog).where(AuditLog.action == "campaign.purge")).one()
    assert entry.actor == "cli:admin" and entry.details["people"] == 14
    with pytest.raises(PurgeRefused, match="already purged"):
        purge_campaign(session, cid, actor="cli:admin")


@pytest.mark.parametrize(
    ("status", "opens_days_ago", "message"),
    [("open", 10, "not closed"), ("closed", 100, "retention period until")],
)
def test_purge_refuses_open_or_recent_campaigns(session: Session, status: str, opens_days_ago: int,
                                                message: str) -> None:
    w = build_world(session, n=3, opens=utcnow() - timedelta(days=opens_days_ago), status=status)
    with pytest.raises(PurgeRefused, match=message):
        purge_campaign(session, int(w.campaign.id), actor="x")  # type: ignore[arg-type]
    assert all(p.phone for p in session.exec(select(Person)).all())


def test_purge_command(session: Session) -> None:
    from cli import app

    recent = build_world(session, n=3, opens=utcnow() - timedelta(days=40), status="closed")
    old = build_world(session, n=3, opens=OLD, status="closed")
    runner = CliRunner()
    refused = runner.invoke(app, ["purge", "--campaign", str(recent.campaign.id), "--force"])
    assert refused.exit_code == 1 and "retention period" in refused.output
    missing = runner.invoke(app, ["purge", "--campaign", "999999", "--force"])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    done = runner.invoke(app, ["purge", "--campaign", str(old.campaign.id), "--force"])
    assert done.exit_code == 0, done.output
    session.expire_all()
    assert session.get(Campaign, old.campaign.id).status == "purged"  # type: ignore[union-attr]
