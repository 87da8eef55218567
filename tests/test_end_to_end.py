"""The whole SPI flow end to end, on SQLite and PostgreSQL, through real parts:

import a messy KPK workbook → sample → invitations through the real twilio client (to a local fake
Twilio API) and aiosmtplib (to a local aiosmtpd) → a signed inbound "Isi Survei" gets the link
back → the questionnaire behind that link is submitted over HTTP → stored once; a second
submission on the same token is refused.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from core.assignments import link_of
from core.clock import local, utcnow
from core.config import get_settings, reset_settings
from core.db import session_scope
from core.models import Assignment, Person
from core.services import add_institution, create_campaign
from dispatch.channels.twilio.webhooks import sign
from dispatch.service import enqueue_invitations
from dispatch.worker import run_until_idle
from population.importer import import_files
from population.sampling import draw_sample
from population.synthetic import write_population_workbook
from responses.models import Response, ResponseLink
from tests.responses.helpers import full_answers, questionnaire

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _no_quiet_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run at any hour; quiet hours have their own tests in tests/dispatch.
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    monkeypatch.setenv("WHATSAPP_RATE_PER_SENDER", "0")
    monkeypatch.setenv("EMAIL_RATE_PER_SERVER", "0")
    reset_settings()


def _load(tmp_path: Path) -> int:
    workbook = tmp_path / "populasi.xlsx"
    write_population_workbook(workbook, seed=7, n_internal=150, n_external=120)
    with session_scope(write=True) as s:
        inst = add_institution(s, "KAB-E2E", "Pemerintah Kabupaten Uji", timezone="WITA")
        today = local(utcnow(), inst.timezone).date()
        report = import_files(s, [workbook], inst, today)
        assert report.summary()["internal"]["eligible"] > 0
        from datetime import timedelta

        campaign = create_campaign(s, inst, year=today.year, opens=today - timedelta(days=1),
                                   closes=today + timedelta(days=30))
        draw_sample(s, campaign, seed=42)
        enqueue_invitations(s, campaign.id)  # type: ignore[arg-type]
        return campaign.id  # type: ignore[return-value]


def _wait_for_reply_queued(phone: str, timeout: float = 15) -> None:
    from dispatch.models import Outbox

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as s:
            if s.exec(select(Outbox).where(Outbox.to_address == phone, Outbox.purpose != "invitation")).first():
                return
        time.sleep(0.05)
    raise AssertionError("no reply was queued for the Isi Survei webhook")


def test_import_sample_invite_rerequest_answer(
    fake_twilio: Any, smtp_server: Any, live_app: Any, tmp_path: Path
) -> None:
    campaign_id = _load(tmp_path)
    run_until_idle(timeout=60)

    with session_scope() as s:
        rows = s.exec(
            select(Assignment, Person).join(Person).where(
                Assignment.campaign_id == campaign_id, Assignment.active
            )
        ).all()
    assert len(rows) > 50

    # Exactly one invitation per respondent (two people may share a number: one each):
    # WhatsApp where there is a number, else email; each carries that respondent's own token.
    tokens = {a.id: link_of(a).rsplit("/", 1)[1] for a, _ in rows}
    wa = [m for m in fake_twilio.messages]
    mails = [m.get_body(("plain",)).get_content() for m in smtp_server.messages]  # type: ignore[union-attr]
    for a, p in rows:
        t = tokens[a.id]
        by_wa = [m for m in wa if t in m.get("ContentVariables", "")]
        by_mail = [body for body in mails if t in body]
        if p.phone:
            assert len(by_wa) == 1 and by_wa[0]["To"] == f"whatsapp:{p.phone}" and not by_mail
        else:
            assert p.email and len(by_mail) == 1 and not by_wa
    assert len(wa) + len(mails) == len(rows)
    assert all(m["ContentSid"] and not m.get("Body") for m in wa)  # approved template, no Body

    # The respondent deleted the message and writes "Isi Survei": the link comes back.
    assignment, person = next((a, p) for a, p in rows if p.phone)
    link = link_of(assignment)
    assert link.startswith(live_app.url)
    token = link.rsplit("/", 1)[1]
    variables = json.loads(next(m for m in fake_twilio.messages
                                if m["To"] == f"whatsapp:{person.phone}")["ContentVariables"])
    assert token in json.dumps(variables)  # the ISI SURVEI button carries the token
    form = {
        "MessageSid": "SM" + "e2e".ljust(32, "0"), "AccountSid": get_settings().twilio_account_sid,
        "From": f"whatsapp:{person.phone}", "To": get_settings().whatsapp_sender_internal,
        "Body": "Isi Survei", "NumMedia": "0",
    }
    url = f"{live_app.url}/twilio/inbound"
    before = len(fake_twilio.messages)
    forged = httpx.post(url, data=form, headers={"X-Twilio-Signature": "bad"})
    assert forged.status_code == 403
    r = httpx.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form)})
    assert r.status_code == 200
    # The webhook answers at once; the reply is decided in a background task and queued on the
    # priority lane. Wait (bounded) for it to be queued, then let the worker send it.
    _wait_for_reply_queued(person.phone)
    run_until_idle(timeout=30)
    replies = [m for m in fake_twilio.messages[before:] if m["To"] == f"whatsapp:{person.phone}"]
    assert len(replies) == 1 and link in replies[0]["Body"]

    # The questionnaire behind the link, page by page, then submitted once.
    with httpx.Client(follow_redirects=False, timeout=10) as web:
        assert web.get(link).status_code == 200
        q = questionnaire(assignment.group if assignment.group != "vendor" else "external")
        answers = full_answers(q)
        for page in q.pages:
            data = {"page": page.id, "nav": "next",
                    **{x.id: str(answers[x.id]) for x in page.questions if x.id in answers}}
            assert web.post(link, data=data).status_code == 303, page.id
        assert web.post(link, data={"page": "konfirmasi", "nav": "submit"}).status_code == 303
        assert "Jawaban Anda sudah kami terima" in web.get(link).text
        again = web.post(link, data={"page": "konfirmasi", "nav": "submit"})
        assert again.status_code == 409

    with session_scope() as s:
        assert len(s.exec(select(Response)).all()) == 1
        assert len(s.exec(select(ResponseLink)).all()) == 1
        assert s.get(Assignment, assignment.id).responded_at is not None  # type: ignore[union-attr]
