"""No contact of the test population in any log line: a blast with timeouts (so reconcile looks
rows up at Twilio, whose client logs the request URL with the number URL-encoded) and a bot
conversation, with the product's logging at DEBUG and the HTTP client's logger forced to DEBUG
too. Every line our handler writes is scanned for every phone (in all the forms it travels in)
and every email of the population."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlmodel import Session

from bot.service import receive
from core.masking import configure_logging
from dispatch.service import enqueue_invitations
from dispatch.worker import run_until_idle
from tests.bot.helpers import inbound
from tests.dispatch.helpers import campaign_with


@pytest.fixture
def product_logging(capfd: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("twilio", "aiohttp", "apscheduler")}
    configure_logging("DEBUG")
    logging.getLogger("twilio").setLevel(logging.DEBUG)  # worst case: an operator turned it on
    try:
        yield capfd
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, lvl in quiet.items():
            logging.getLogger(name).setLevel(lvl)


def forms(phone: str) -> list[str]:
    digits = phone.lstrip("+")
    return [phone, digits, quote(phone, safe=""), quote(f"whatsapp:{phone}", safe=""),
            "0" + digits[2:], "\\u002b" + digits]


def test_no_contact_reaches_a_log_line(session: Session, fake_twilio, product_logging) -> None:  # type: ignore[no-untyped-def]
    campaign, _, _, people = campaign_with(session, 12, email=True)
    fake_twilio.set_faults(timeout=0.3)  # answers that never come: looked up by reconcile
    enqueue_invitations(session, campaign.id)
    session.commit()
    stats = run_until_idle(timeout=30)
    assert stats["ambiguous"] > 0, stats
    assert stats["reconciled"].get("checked", 0) > 0  # the look-ups happened
    receive(session, inbound(people[0][1].phone or "", "Isi Survei"))
    receive(session, inbound(people[1][1].phone or "", f"email saya {people[1][1].email}"))
    session.commit()
    out, err = product_logging.readouterr()
    lines = (out + err).splitlines()
    assert any("Messages.json" in line for line in lines)  # the client's request lines were there
    leaks = []
    for _, person in people:
        needles = [*(forms(person.phone) if person.phone else []), *([person.email] if person.email else [])]
        pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
        leaks += [line for line in lines if pattern.search(line)]
    assert leaks == []
