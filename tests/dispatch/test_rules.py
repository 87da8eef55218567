"""Dispatch rules: fallback, opt-out, reminders only to non-responders, quiet hours, callbacks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.clock import utcnow
from core.config import get_settings, reset_settings
from core.models import OptOut
from dispatch.models import Outbox, Unreachable
from dispatch.service import enqueue_invitations, enqueue_reminder, enqueue_reply, is_opted_out
from dispatch.waves import enqueue_due_waves
from dispatch.worker import allowed_zones, run_until_idle
from tests.dispatch.helpers import campaign_with, invite_by_email_first


def rows(session: Session) -> list[Outbox]:
    session.commit()  # end the read snapshot (SQLite WAL) before looking again
    session.expire_all()
    return list(session.exec(select(Outbox)).all())


def test_permanent_whatsapp_error_falls_back_to_email(session: Session, fake_twilio, smtp_server) -> None:  # type: ignore[no-untyped-def]
    campaign, inst, unit, people = campaign_with(session, 3)
    (a0, p0), (a1, p1), (a2, p2) = people
    fake_twilio.reject[p0.phone] = 63024  # not on WhatsApp
    p1.email = None  # unreachable on WhatsApp and no email: nothing more to try
    fake_twilio.reject[p1.phone] = 21211
    session.add(p1)
    session.commit()
    enqueue_invitations(session, campaign.id)
    session.commit()
    run_until_idle(timeout=20)
    by_assignment = {}
    for r in rows(session):
        by_assignment.setdefault(r.assignment_id, []).append(r)
    wa0, em0 = sorted(by_assignment[a0.id], key=lambda r: r.channel == "email")
    assert wa0.status == "failed" and wa0.error_code == "63024" and wa0.error_class == "not_whatsapp"
    assert em0.channel == "email" and em0.status == "sent" and em0.fallback_of == wa0.id
    [only] = by_assignment[a1.id]
    assert only.status == "failed"
    assert [r.status for r in by_assignment[a2.id]] == ["sent"]
    assert [m["To"] for m in smtp_server.messages] == [p0.email]
    mail = smtp_server.messages[0]
    assert mail["Subject"] == f"SPI {campaign.year} — {inst.name}"
    assert mail["Message-ID"].startswith("<spi.") and "List-Unsubscribe" in mail
    text = mail.get_body(("plain",)).get_content()
    assert p0.name in text and unit.name in text and "/s/" in text
    assert session.exec(select(Unreachable).where(Unreachable.address == p0.phone)).one().error_code == "63024"
    # the next wave goes straight to email for the unreachable number
    enqueue_reminder(session, campaign.id, now=utcnow() + timedelta(days=3))
    session.commit()
    reminders = [r for r in rows(session) if r.purpose == "reminder"]
    assert {(r.assignment_id, r.channel) for r in reminders} == {(a0.id, "email"), (a2.id, "whatsapp")}


def test_email_refused_falls_back_to_whatsapp(session: Session, fake_twilio, smtp_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, [(a, p)] = campaign_with(session, 1)
    invite_by_email_first(session, campaign.id, p)  # the fallback uses the phone
    smtp_server.reject[p.email.lower()] = 550
    run_until_idle(timeout=20)
    got = {r.channel: r for r in rows(session)}
    assert got["email"].status == "failed" and got["email"].error_code == "550"
    assert got["whatsapp"].status == "sent"
    assert len(fake_twilio.to(p.phone or "")) == 1


def test_opted_out_numbers_are_never_messaged(session: Session, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, people = campaign_with(session, 3, email=False)
    (_, p0), (_, p1), (_, p2) = people
    session.add(OptOut(address=p0.phone, opted_out_at=utcnow()))
    session.commit()
    assert is_opted_out(session, f"whatsapp:{p0.phone}")
    enqueue_invitations(session, campaign.id)
    session.commit()
    assert p0.phone not in {r.to_address for r in rows(session)}  # checked at enqueue
    session.add(OptOut(address=p1.phone, opted_out_at=utcnow()))  # opts out while queued
    session.commit()
    run_until_idle(timeout=20)
    assert fake_twilio.to(p0.phone) == [] and fake_twilio.to(p1.phone) == []  # and at send
    assert len(fake_twilio.to(p2.phone)) == 1
    blocked = [r for r in rows(session) if r.to_address == p1.phone]
    assert blocked[0].status == "failed" and blocked[0].error_class == "opted_out"


def test_reminders_only_to_non_responders_with_gap_and_max(session: Session) -> None:
    campaign, _, unit, people = campaign_with(session, 4)
    (a0, _), (a1, _), (a2, _), (a3, _) = people
    t0 = utcnow()
    enqueue_invitations(session, campaign.id, now=t0)
    a1.responded_at = t0
    a2.active = False
    session.add_all([a1, a2])
    session.commit()
    assert enqueue_reminder(session, campaign.id, now=t0 + timedelta(days=1)) == 0  # min gap: 2 days
    sent = enqueue_reminder(session, campaign.id, now=t0 + timedelta(days=3))
    assert sent == 2
    assert enqueue_reminder(session, campaign.id, now=t0 + timedelta(days=3, hours=1)) == 0
    for day in (6, 9, 12):
        enqueue_reminder(session, campaign.id, now=t0 + timedelta(days=day))
    session.commit()
    reminders = [r for r in rows(session) if r.purpose == "reminder"]
    assert {r.assignment_id for r in reminders} == {a0.id, a3.id}
    assert len([r for r in reminders if r.assignment_id == a0.id]) == get_settings().reminder_max_count
    # a PIC reminder for one unit touches only that unit
    other_campaign, _, _, other = campaign_with(session, 2)
    enqueue_invitations(session, other_campaign.id, now=t0)
    session.commit()
    assert enqueue_reminder(session, other_campaign.id, unit_id=unit.id, now=t0 + timedelta(days=3)) == 0


def test_due_waves_are_idempotent(session: Session) -> None:
    now = utcnow()
    campaign, _, _, people = campaign_with(session, 3, opens_at=now - timedelta(hours=1),
                                           closes_at=now + timedelta(days=30))
    first = enqueue_due_waves(now)
    assert first["enqueued"] == 3
    assert enqueue_due_waves(now)["enqueued"] == 0
    later = enqueue_due_waves(now + timedelta(days=3, hours=1))
    assert later["waves"] == [f"c{campaign.id}:reminder:3"] and later["enqueued"] == 3
    last = enqueue_due_waves(now + timedelta(days=29))
    assert f"c{campaign.id}:last_call" in last["waves"]
    assert enqueue_due_waves(now + timedelta(days=29))["enqueued"] == 0
    keys = [r.key for r in rows(session)]
    assert len(keys) == len(set(keys))


def test_quiet_hours_hold_bulk_but_not_replies(session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from core.clock import local

    now = utcnow()
    jkt = local(now, "Asia/Jakarta")
    start, end = (jkt - timedelta(hours=1)), (jkt + timedelta(hours=1))
    monkeypatch.setenv("QUIET_START", f"{start:%H:%M}")
    monkeypatch.setenv("QUIET_END", f"{end:%H:%M}")
    reset_settings()
    held, _, _, _ = campaign_with(session, 2, tz="Asia/Jakarta", email=False)
    free, _, _, _ = campaign_with(session, 2, tz="Asia/Jayapura", email=False)  # 2 hours later there
    enqueue_invitations(session, held.id)
    enqueue_invitations(session, free.id)
    enqueue_reply(session, to="whatsapp:+628120000001", body="Halo", key="SMin1:0")
    session.commit()
    run_until_idle(timeout=10)
    status = {(r.campaign_id, r.purpose): r.status for r in rows(session)}
    assert status[(held.id, "invitation")] == "pending"
    assert status[(free.id, "invitation")] == "delivered"
    assert status[(None, "reply")] == "delivered"


def test_allowed_zones_follow_local_time() -> None:
    settings = get_settings().model_copy(update={"quiet_start": "21:00", "quiet_end": "08:30"})
    zones = ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"]
    at = datetime.fromisoformat("2026-08-03T13:45:00+00:00")  # 20:45 WIB, 21:45 WITA, 22:45 WIT
    assert allowed_zones(at, zones, settings) == ["Asia/Jakarta"]
    at = datetime.fromisoformat("2026-08-03T00:00:00+00:00")  # 07:00 WIB, 08:00 WITA, 09:00 WIT
    assert allowed_zones(at, zones, settings) == ["Asia/Jayapura"]


def test_replies_are_idempotent_and_go_first(session: Session) -> None:
    campaign, _, _, _ = campaign_with(session, 5, email=False)
    enqueue_invitations(session, campaign.id)
    first = enqueue_reply(session, to="+628120000009", body="Tautan Anda: ...", key="SMabc:0")
    assert first is not None and first.lane == 0
    assert enqueue_reply(session, to="+628120000009", body="again", key="SMabc:0") is None
    with pytest.raises(ValueError):
        enqueue_reply(session, to="+628120000009", body="  ", key="SMabc:1")
    session.commit()
    from core.db import session_scope
    from dispatch.worker import Worker

    claimed = Worker().claim(3)
    assert claimed[0][0].purpose == "reply"
    with session_scope(write=True) as s:  # put them back
        s.execute(Outbox.__table__.update().values(status="pending"))
