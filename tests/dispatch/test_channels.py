"""Email through a real SMTP server, the shared rate limit, templates, CLI, reconciling."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from jinja2 import UndefinedError
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.clock import utcnow
from core.config import reset_settings
from core.db import session_scope
from core.models import OptOut
from dispatch import content
from dispatch.models import Outbox, RateBucket
from dispatch.reconcile import reconcile_sync
from dispatch.service import enqueue_invitations, enqueue_link
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with
from tests.dispatch.test_scale import statuses


def test_email_pool_reuses_connections_and_unsubscribe_works(session: Session, smtp_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMTP_POOL_SIZE", "2")
    reset_settings()
    campaign, inst, unit, people = campaign_with(session, 12, phone=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 12
    assert len(smtp_server.messages) == 12
    assert smtp_server.connections <= 2  # persistent, pooled
    ids = {m["Message-ID"] for m in smtp_server.messages}
    assert len(ids) == 12
    row = session.exec(select(Outbox).where(Outbox.to_address == people[0][1].email.lower())).one()
    assert row.provider_id == content.message_id(row.id, row.key)  # stable per row
    mail = next(m for m in smtp_server.messages if m["To"] == people[0][1].email)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = mail.get_body(("html",)).get_content()
    assert "ISI SURVEI" in html and unit.name in html
    url = mail["List-Unsubscribe"].strip("<>")
    path = url.split("://", 1)[1].split("/", 1)[1]
    from fastapi.testclient import TestClient

    from web import create_app

    client = TestClient(create_app())
    assert client.get("/" + path).status_code == 200
    assert client.post("/" + path[:-2] + "xx").status_code == 404  # forged signature
    assert client.post("/" + path).status_code == 200
    session.commit()
    assert session.exec(select(OptOut).where(OptOut.address == row.to_address)).one().channel == "email"


def worst_window(times: list[float]) -> int:
    """Most arrivals in any half-open 1-second window [t, t + 1)."""
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_rate_cap_is_never_exceeded(session: Session, fake_twilio, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Measured where it matters: arrival times at the (fake) provider, exact 1-second windows.
    The strict window (spread inf: each message counts until its answer + 1 s) costs nothing on
    loopback and holds whatever a loaded test machine does to the fake's timing; the 30 ms default
    assumes transit varies less than that, which a starved fake process can break."""
    monkeypatch.setenv("WHATSAPP_RATE_PER_SENDER", "20")
    monkeypatch.setenv("RATE_TRANSIT_SPREAD_SECONDS", "inf")
    reset_settings()
    campaign, _, _, _ = campaign_with(session, 60, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    run_until_idle(timeout=30)
    times = sorted(m["at"] for m in fake_twilio.messages)
    assert len(times) == 60
    worst = worst_window(times)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert worst <= 20, f"{worst} in one second (achieved {achieved:.2f}/s)"  # proven: never flaky
    # The schedule aims at 97% (97.1-98.6% here, also beside two CPU hogs); bench/dispatch.py shows
    # >= 95% over 15 s. In a 3-second run a stall of this process (a load spike on the shared box)
    # is never made up: catching up faster than the cap is exactly what must not happen.
    assert achieved >= 0.9 * 20, f"achieved {achieved:.2f}/s, worst window {worst}"


def test_rate_limited_answers_slow_the_sender_down(session: Session, fake_twilio, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WHATSAPP_RATE_PER_SENDER", "200")
    reset_settings()
    monkeypatch.setenv("MAX_ATTEMPTS", "20")  # every message gets through in the end
    reset_settings()
    # half the answers: a real share (a lone random 429 only retries its own message)
    fake_twilio.set_faults(rate_limited=0.5)
    campaign, _, _, _ = campaign_with(session, 30, email=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    run_until_idle(timeout=40)
    assert statuses(session) == {"sent": 30}
    bucket = session.exec(select(RateBucket)).one()
    assert bucket.factor < 1.0 and bucket.penalised_at > 0


def test_missing_variable_fails_before_anything_is_enqueued(session: Session) -> None:
    with pytest.raises(UndefinedError):
        content.validate("whatsapp", "invitation", {"name": "Budi"})
    with pytest.raises(UndefinedError):
        content.validate("email", "reminder", {"name": "Budi", "year": "2026"})
    variables = {"name": "Budi", "year": "2026", "institution": "Kab", "unit": "Dinas", "closes": "1 Mei"}
    content.validate("email", "invitation", variables)
    assert json.loads(content.content_variables(variables, "tok"))["6"] == "tok"


def test_registration_link_goes_on_both_channels_at_once(session: Session) -> None:
    campaign, _, _, [(a, p)] = campaign_with(session, 1)
    assert enqueue_link(session, a) == 2
    assert enqueue_link(session, a) == 0
    session.commit()
    assert {(r.channel, r.lane) for r in session.exec(select(Outbox)).all()} == {("whatsapp", 0), ("email", 0)}


def test_stuck_email_becomes_unknown_and_whatsapp_is_looked_up(session: Session, fake_twilio, smtp_server) -> None:  # type: ignore[no-untyped-def]
    from dispatch.worker import Worker

    campaign, _, _, people = campaign_with(session, 1)
    _, p = people[0]
    enqueue_invitations(session, campaign.id)
    other, _, _, [(_, q)] = campaign_with(session, 1, phone=False)
    enqueue_invitations(session, other.id)
    session.commit()
    claimed = Worker().claim(10)  # then the worker "dies" before sending anything
    assert len(claimed) == 2
    with session_scope(write=True) as s:
        s.execute(Outbox.__table__.update().values(lease_until=utcnow() - timedelta(seconds=1)))
    result = reconcile_sync()
    assert result["unknown"] == 1 and result["reopened"] == 1
    session.commit()
    by_channel = {r.channel: r.status for r in session.exec(select(Outbox)).all()}
    assert by_channel == {"email": "unknown", "whatsapp": "pending"}
    run_until_idle(timeout=20)
    assert len(fake_twilio.to(p.phone)) == 1 and smtp_server.messages == []


def test_cli_templates_send_and_remind(db_url: str, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    from cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["templates"])
    assert out.exit_code == 0 and "twilio/call-to-action" in out.output and "ISI SURVEI" in out.output
    out = runner.invoke(app, ["templates", "--create"])
    assert out.exit_code == 0, out.output
    assert len(fake_twilio.contents) == 3
    assert fake_twilio.contents[0]["types"]["twilio/call-to-action"]["actions"][0]["title"] == "ISI SURVEI"
    with session_scope(write=True) as s:
        campaign, _, unit, _ = campaign_with(s, 2)
        cid, uid = campaign.id, unit.id
    out = runner.invoke(app, ["send", "invitations", "--campaign", str(cid), "--yes"])
    assert out.exit_code == 0 and "2 invitations" in out.output
    out = runner.invoke(app, ["remind", "--campaign", str(cid), "--unit", str(uid)])
    assert out.exit_code == 0 and "0 reminders" in out.output  # minimum gap since the invitation
    out = runner.invoke(app, ["send", "invitations", "--campaign", "999999"])
    assert out.exit_code == 1 and "does not exist" in out.output
