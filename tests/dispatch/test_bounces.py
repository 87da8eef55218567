"""Late bounces: every email goes out with its own VERP envelope sender; a DSN (RFC 3464) that
comes back later to the bounce mailbox (a real Dovecot) fails its outbox row like a recipient
refused at send time: address unreachable, the invitation falls back to WhatsApp. Anything else
in the mailbox (a delay notice, a forged VERP, plain mail) changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

import pytest
from sqlmodel import Session, select

import scheduler
from core.config import reset_settings
from dispatch.bounces import parse_verp, poll_bounces, verp_address
from dispatch.models import Outbox, Unreachable
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with, invite_by_email_first

BOUNCE_ADDRESS = "SPI Bounces <bounces@spi.test.example>"


def rows(session: Session) -> list[Outbox]:
    session.commit()  # end the read snapshot (SQLite WAL) before looking again
    session.expire_all()
    return list(session.exec(select(Outbox).order_by(Outbox.id)).all())  # type: ignore[arg-type]


def unreachable(session: Session) -> list[tuple[str, str, str | None]]:
    session.commit()
    return [(u.address, u.channel, u.error_code) for u in session.exec(select(Unreachable)).all()]


@dataclass
class Sent:
    row: Outbox  # the email's outbox row, as sent
    address: str  # the respondent's email address
    phone: str
    verp: str  # the envelope sender the SMTP server saw
    mail: Message  # the email as the SMTP server received it


@pytest.fixture
def sent(session: Session, smtp_server, fake_twilio, imap_server, monkeypatch) -> Sent:  # type: ignore[no-untyped-def]
    """One invitation sent by email (accepted by the SMTP server) to a respondent who also has a
    phone: email first (no phone at enqueue time), then the phone appears, as in test_rules."""
    monkeypatch.setenv("BOUNCE_ADDRESS", BOUNCE_ADDRESS)
    reset_settings()
    campaign, _, _, [(_, p)] = campaign_with(session, 1)
    phone, address = p.phone, str(p.email).lower()
    assert phone
    invite_by_email_first(session, campaign.id, p)
    assert run_until_idle(timeout=20)["sent"] == 1
    [row] = rows(session)
    assert row.channel == "email" and row.status == "sent"
    [(mail_from, rcpt_tos)] = smtp_server.handler.envelopes
    assert rcpt_tos == [address]
    return Sent(row, address, phone, mail_from, smtp_server.messages[0])


def dsn(verp: str, original: Message, *, action: str = "failed", status: str = "5.1.1",
        diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown") -> bytes:
    """A bounce as Postfix writes it (multipart/report, RFC 3464), sent to `verp`, returning the
    headers of `original` (with the Return-Path the receiving server added)."""
    rcpt = str(original["To"])
    returned = original.as_string().split("\n\n", 1)[0]  # its header block, as the server got it
    return f"""Return-Path: <>
Delivered-To: {verp}
From: MAILER-DAEMON@mx.remote.example (Mail Delivery System)
To: {verp}
Subject: Undelivered Mail Returned to Sender
Date: Tue, 5 May 2026 10:00:00 +0700
Message-ID: <20260505030000.ABC123@mx.remote.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

This is a MIME-encapsulated message.

--B1
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example
Arrival-Date: Tue, 5 May 2026 09:59:58 +0700

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.remote.example
Diagnostic-Code: {diagnostic.format(rcpt=rcpt)}

--B1
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
{returned}

--B1--
""".encode()


def test_late_bounce_fails_the_email_and_falls_back_to_whatsapp(  # type: ignore[no-untyped-def]
    session: Session, sent: Sent, fake_twilio, imap_server
) -> None:
    row = sent.row
    assert row.id is not None and sent.verp == verp_address(row.id) and sent.verp.startswith(f"bounces+{row.id}-")
    assert sent.verp.endswith("@spi.test.example") and parse_verp(sent.verp).valid  # type: ignore[union-attr]
    bounce = dsn(sent.verp, sent.mail)
    imap_server.append(bounce)
    counts = poll_bounces()
    assert counts["failed"] == 1 and sum(counts.values()) == 1, counts
    email_row, wa = rows(session)
    assert (email_row.id, email_row.status, email_row.error_class) == (row.id, "failed", "permanent")
    assert email_row.error_code == "550" and "5.1.1" in (email_row.error_message or "")
    assert unreachable(session) == [(sent.address, "email", "550")]
    assert (wa.channel, wa.status, wa.to_address) == ("whatsapp", "pending", sent.phone)
    assert (wa.assignment_id, wa.purpose, wa.fallback_of) == (row.assignment_id, "invitation", row.id)
    assert imap_server.messages() == []  # \Seen \Deleted, expunged
    assert run_until_idle(timeout=20)["sent"] == 1
    assert len(fake_twilio.to(sent.phone)) == 1
    assert [r.status for r in rows(session)] == ["failed", "sent"]

    imap_server.append(bounce)  # a second copy of the same bounce
    counts = poll_bounces()
    assert counts["skipped"] == 1 and counts["failed"] == 0, counts
    assert [(r.channel, r.status) for r in rows(session)] == [("email", "failed"), ("whatsapp", "sent")], \
        "a second copy of a bounce must not queue a second WhatsApp fallback"
    assert run_until_idle(timeout=5).get("sent", 0) == 0 and len(fake_twilio.to(sent.phone)) == 1
    assert len(unreachable(session)) == 1
    assert imap_server.messages() == []


def test_a_bounce_settles_a_send_whose_answer_never_came(session: Session, sent: Sent, imap_server) -> None:  # type: ignore[no-untyped-def]
    """A send that crashed before the SMTP answer becomes `unknown`; its bounce proves the server
    had it: the row fails and falls back to WhatsApp like any other."""
    row = sent.row
    row.status = "unknown"
    session.add(row)
    session.commit()
    imap_server.append(dsn(sent.verp, sent.mail))
    assert poll_bounces()["failed"] == 1
    email_row, wa = rows(session)
    assert email_row.status == "failed" and (wa.channel, wa.status) == ("whatsapp", "pending")


def test_delays_forged_verp_and_plain_mail_change_nothing(session: Session, sent: Sent, imap_server) -> None:  # type: ignore[no-untyped-def]
    signature = sent.verp.split("@")[0].rsplit("-", 1)[1]
    wrong = "0" * 8 if signature != "0" * 8 else "1" * 8
    forged_verp = sent.verp.replace(f"-{signature}@", f"-{wrong}@")
    ref = parse_verp(forged_verp)
    assert ref is not None and ref.outbox_id == sent.row.id and not ref.valid
    delayed = dsn(sent.verp, sent.mail, action="delayed", status="4.4.7",
                  diagnostic="smtp; 451 4.4.7 <{rcpt}>: try again later")
    forged = dsn(forged_verp, sent.mail)  # a permanent failure naming our row, our Message-ID
    plain = (b"From: Budi <budi@remote.example>\nTo: bounces@spi.test.example\n"
             b"Subject: Tolong hapus saya\n\nSaya bukan ASN.\n")
    for raw in (delayed, forged, plain):
        imap_server.append(raw)
    counts = poll_bounces()
    assert {k: v for k, v in counts.items() if v} == {"transient": 1, "forged": 1, "unparsed": 1}
    [row] = rows(session)
    assert (row.status, row.error_code) == ("sent", None)  # no WhatsApp fallback either
    assert unreachable(session) == []
    left = imap_server.messages()  # the delay notice is gone; the others stay, read, for a person
    assert sorted(raw.replace(b"\r\n", b"\n") for _, raw in left) == sorted([forged, plain])
    assert all("\\Seen" in flags and "\\Deleted" not in flags for flags, _ in left)
    assert not any(poll_bounces().values())  # already \Seen: not read again


def test_without_bounce_imap_host_nothing_is_read(imap_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    imap_server.append(b"From: a@remote.example\nTo: bounces@spi.test.example\nSubject: x\n\nx\n")
    monkeypatch.delenv("BOUNCE_IMAP_HOST")
    reset_settings()
    assert scheduler.job_poll_bounces() == {}
    [(flags, _)] = imap_server.messages()
    assert "\\Seen" not in flags  # polled, it would be read (and flagged) as unparsed
    monkeypatch.setenv("BOUNCE_IMAP_HOST", imap_server.host)
    reset_settings()
    assert scheduler.job_poll_bounces()["unparsed"] == 1  # the same mailbox, read when configured
