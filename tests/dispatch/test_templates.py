"""WhatsApp template lifecycle against the fake Twilio API: submit once, read the approval back,
hold a template WhatsApp paused or re-categorised (nothing fails, nothing is sent twice), and
the sample link of the submitted button opens a real page."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from core.clock import utcnow
from core.config import get_settings, reset_settings
from dispatch import holds
from dispatch.content import TOKEN_VARIABLE, WHATSAPP_TEMPLATES, content_definitions, whatsapp_text
from dispatch.models import Hold, HoldScope, Outbox, Purpose, TemplateApproval
from dispatch.service import enqueue_invitations
from dispatch.templates import approval_name, scheduled_sync, submit, sync_approvals
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with
from tests.fakes.twilio_api import FakeTwilio
from tests.fixtures.twilio import TEST_ACCOUNT_SID


def _sid(template: str = "invitation") -> str:
    return str(getattr(get_settings(), f"twilio_content_sid_{template}"))


def _template_hold(session: Session, template: str = "invitation") -> Hold | None:
    session.expire_all()
    return session.exec(select(Hold).where(Hold.scope == HoldScope.template, Hold.target == template)).first()


def test_submit_once_then_says_what_it_did(session: Session, fake_twilio: FakeTwilio,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = fake_twilio.add_content("spi_invitation", status="unsubmitted", account_sid=TEST_ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_CONTENT_SID_INVITATION", fresh)
    reset_settings()

    first = {s.template: s for s in submit(session)}
    session.commit()
    assert first["invitation"].action == "submitted" and first["invitation"].status == "received"
    assert fake_twilio.templates[fresh]["whatsapp"]["name"] == approval_name("invitation") == "spi_invitation_v1"
    assert fake_twilio.templates[fresh]["whatsapp"]["category"] == "UTILITY"
    assert first["reminder"].action == "skipped" and "already approved" in first["reminder"].note

    again = {s.template: s for s in submit(session)}  # the fake refuses a second request: none is made
    session.commit()
    assert {s.action for s in again.values()} == {"skipped"}
    assert "already received" in again["invitation"].note
    row = session.get(TemplateApproval, "invitation")
    assert row is not None and row.content_sid == fresh and row.status == "received"


def test_approved_utility_templates_are_not_held(session: Session, fake_twilio: FakeTwilio) -> None:
    states = sync_approvals(session)
    session.commit()
    assert [(s.template, s.status, s.category, s.held) for s in states] == [
        (t, "approved", "UTILITY", False) for t in WHATSAPP_TEMPLATES]
    assert not holds.current(session)
    assert session.get(TemplateApproval, "reminder").status == "approved"  # type: ignore[union-attr]


def test_paused_mid_blast_holds_then_resumes_without_duplicates(
        session: Session, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_EMAILS", "admin@spi.example")
    reset_settings()
    campaign, _, _, people = campaign_with(session, 10, email=False)
    assert enqueue_invitations(session, campaign.id) == 10
    session.commit()
    ids = sorted(session.exec(select(Outbox.id).where(Outbox.purpose == Purpose.invitation)).all())
    later = ids[5:]  # the second half of the blast is not due yet
    session.execute(
        update(Outbox).where(col(Outbox.id).in_(later)).values(next_attempt_at=utcnow() + timedelta(hours=1))
    )
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 5

    fake_twilio.set_template_status(_sid(), "paused")  # Meta paused it (quality)
    [state] = [s for s in sync_approvals(session) if s.template == "invitation"]
    session.commit()
    assert state.held and state.change == "held"
    hold = _template_hold(session)
    assert hold is not None and hold.code == "template" and "paused" in hold.reason
    assert sync_approvals(session)[0].change == ""  # still paused: no second hold, no second alert
    session.commit()
    alerts = session.exec(select(Outbox).where(Outbox.purpose == Purpose.alert)).all()
    assert len(alerts) == 1 and alerts[0].to_address == "admin@spi.example"

    session.execute(update(Outbox).where(col(Outbox.id).in_(later)).values(next_attempt_at=utcnow()))
    session.commit()
    sent_before = len(fake_twilio.messages)
    stats = run_until_idle(timeout=20)
    assert stats["sent"] == 1  # the alert email only
    assert len(fake_twilio.messages) == sent_before
    session.expire_all()
    rows = session.exec(select(Outbox).where(Outbox.purpose == Purpose.invitation)).all()
    assert sorted(r.status for r in rows if r.id in later) == ["pending"] * 5
    assert not [r for r in rows if r.status == "failed"]

    fake_twilio.set_template_status(_sid(), "approved")
    [state] = [s for s in sync_approvals(session) if s.template == "invitation"]
    session.commit()
    assert state.change == "resumed" and not state.held and _template_hold(session) is None
    assert run_until_idle(timeout=20)["sent"] == 5
    per_recipient = Counter(m["To"] for m in fake_twilio.messages)
    assert per_recipient == Counter(f"whatsapp:{p.phone}" for _, p in people)  # each exactly once
    assert {m["status"] for m in fake_twilio.messages} == {"delivered"}


def test_recategorised_template_is_held_until_utility_again(session: Session, fake_twilio: FakeTwilio) -> None:
    fake_twilio.set_template_status(_sid("reminder"), "approved", category="MARKETING")
    states = {s.template: s for s in sync_approvals(session)}
    session.commit()
    assert states["reminder"].held and not states["invitation"].held
    hold = _template_hold(session, "reminder")
    assert hold is not None and "MARKETING" in hold.reason
    assert session.get(TemplateApproval, "reminder").category == "MARKETING"  # type: ignore[union-attr]

    fake_twilio.set_template_status(_sid("reminder"), "approved", category="UTILITY")
    assert {s.template: s.change for s in sync_approvals(session)}["reminder"] == "resumed"
    session.commit()
    assert _template_hold(session, "reminder") is None


def test_a_person_s_hold_is_not_lifted_by_the_sync(session: Session, fake_twilio: FakeTwilio) -> None:
    holds.hold(session, HoldScope.template, "registration", reason="checking the text", code="manual")
    sync_approvals(session)
    session.commit()
    hold = _template_hold(session, "registration")
    assert hold is not None and hold.code == "manual"


def test_unknown_content_sid_is_held(session: Session, fake_twilio: FakeTwilio,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_CONTENT_SID_REGISTRATION", "HX" + "f" * 32)
    reset_settings()
    states = {s.template: s for s in sync_approvals(session)}
    session.commit()
    assert states["registration"].status == "not_found" and states["registration"].held


def test_scheduler_job_syncs_only_with_twilio(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "skipped" in scheduled_sync()  # sandbox: never reaches out


def test_scheduler_job_with_twilio(db_url: str, fake_twilio: FakeTwilio) -> None:
    fake_twilio.set_template_status(_sid(), "rejected", rejection_reason="INVALID_FORMAT")
    assert scheduled_sync() == {"invitation": "held", "reminder": "approved", "registration": "approved"}
    assert scheduled_sync()["invitation"] == "held"  # idempotent


def test_templates_status_command(db_url: str, fake_twilio: FakeTwilio) -> None:
    from cli import app

    ok = CliRunner().invoke(app, ["templates", "--status"], terminal_width=200)
    assert ok.exit_code == 0, ok.output
    assert "approved" in ok.output and "UTILITY" in ok.output
    fake_twilio.set_template_status(_sid(), "paused")
    held = CliRunner().invoke(app, ["templates", "--status", "--submit"], terminal_width=200)
    assert held.exit_code == 1 and "HELD" in held.output and "already paused" in held.output


def test_sample_link_of_the_submitted_button_opens_a_page(db_url: str) -> None:
    from fastapi.testclient import TestClient

    from tests.responses.helpers import responses_app

    [definition, *_] = content_definitions()
    url = definition["types"]["twilio/call-to-action"]["actions"][0]["url"]
    sample = url.replace("{{" + TOKEN_VARIABLE + "}}", definition["variables"][TOKEN_VARIABLE])
    path = sample.removeprefix(get_settings().public_base_url.rstrip("/"))
    r = TestClient(responses_app()).get(path)
    assert r.status_code == 200
    assert "Contoh tautan survei" in r.text and "tidak menyimpan jawaban" in r.text


def test_whatsapp_texts_offer_stop_and_the_bot_understands_it() -> None:
    from bot.intents import intent_of

    variables = {"name": "Budi", "year": "2026", "institution": "Kab", "unit": "Dinas", "closes": "31 Oktober 2026"}
    for template in WHATSAPP_TEMPLATES:
        assert whatsapp_text(template, variables).endswith("Balas STOP untuk berhenti.")
    assert intent_of("STOP") == intent_of("stop") == "stop"
