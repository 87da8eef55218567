"""The thin end-to-end path: enqueue invitations, a worker sends them, the outbox records it."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from core.assignments import link_of
from dispatch.models import Outbox
from dispatch.sandbox import conversation
from dispatch.service import enqueue_invitations
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with


def test_sandbox_invitations_are_sent_once_and_visible(session: Session) -> None:
    campaign, inst, unit, people = campaign_with(session, 3)
    assert enqueue_invitations(session, campaign.id) == 3
    session.commit()
    assert enqueue_invitations(session, campaign.id) == 0  # idempotent
    session.commit()
    stats = run_until_idle(timeout=20)
    assert stats["sent"] == 3
    rows = session.exec(select(Outbox)).all()
    assert {r.status for r in rows} == {"delivered"}
    assignment, person = people[0]
    convo = conversation(session, person.phone)
    assert len(convo) == 1
    msg = convo[0]
    assert person.name in msg.text and inst.name in msg.text and unit.name in msg.text
    assert msg.button_text == "ISI SURVEI"
    assert msg.button_url == link_of(assignment)


def test_twilio_invitation_uses_content_template(session: Session, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    campaign, inst, unit, people = campaign_with(session, 2, group="external")
    enqueue_invitations(session, campaign.id)
    session.commit()
    stats = run_until_idle(timeout=20)
    assert stats["sent"] == 2
    assert len(fake_twilio.messages) == 2
    assignment, person = people[0]
    [m] = fake_twilio.to(person.phone)
    assert m["ContentSid"].startswith("HX") and m["Body"] is None
    assert m["From"] == "whatsapp:+628111919477"  # the external sender
    assert m["StatusCallback"].endswith("/twilio/status")
    variables = json.loads(m["ContentVariables"])
    assert variables["1"] == person.name and variables["3"] == inst.name and variables["4"] == unit.name
    assert link_of(assignment).endswith("/s/" + variables["6"])
    row = session.exec(select(Outbox).where(Outbox.to_address == person.phone)).one()
    assert row.status == "sent" and row.provider_id == m["sid"] and row.backend == "twilio"


def test_campaign_overrides_sender_and_template(session: Session, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    custom = fake_twilio.add_content("spi_invitation_custom")  # another approved template
    fake_twilio.senders.add("whatsapp:+628199999999")  # another sender of the account
    config = {"content_sids": {"invitation": custom}, "senders": {"internal": "whatsapp:+628199999999"}}
    campaign, _, _, [(_, person)] = campaign_with(session, 1, email=False, config=config)
    enqueue_invitations(session, campaign.id)
    session.commit()
    run_until_idle(timeout=20)
    [m] = fake_twilio.to(person.phone)
    assert m["ContentSid"] == custom and m["From"] == "whatsapp:+628199999999"
