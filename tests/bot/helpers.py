"""Shared helpers of the bot tests: Twilio-like inbound forms, signed posts, a small world."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from core.clock import utcnow
from core.config import get_settings
from core.models import Assignment, Campaign, Institution, Person, Unit
from dispatch.channels.base import Incoming
from dispatch.channels.twilio.webhooks import parse_inbound, sign
from tests import factories

_sids = itertools.count(1)
SENDER = "whatsapp:+628111919476"


def inbound_form(phone: str, body: str = "", sid: str | None = None, **extra: str) -> dict[str, str]:
    form = {
        "MessageSid": sid or f"SM{next(_sids):032d}",
        "AccountSid": "AC00000000000000000000000000000000",
        "From": f"whatsapp:{phone}",
        "To": SENDER,
        "Body": body,
        "NumMedia": "0",
        "ProfileName": "Responden",
        "WaId": phone.lstrip("+"),
    }
    form.update(extra)
    return form


def inbound(phone: str, body: str = "", sid: str | None = None, **extra: str) -> Incoming:
    """The same message as the bot receives it (through the Twilio adapter's parser)."""
    return parse_inbound(inbound_form(phone, body, sid, **extra))


def post_signed(client: Any, form: dict[str, str], path: str = "/twilio/inbound") -> Any:
    url = get_settings().public_base_url.rstrip("/") + path
    return client.post(path, data=form, headers={"X-Twilio-Signature": sign(url, form)})


@dataclass
class World:
    institution: Institution
    unit: Unit
    campaign: Campaign
    person: Person
    assignment: Assignment
    token: str


def make_world(session: Session, *, phone: str = "+6281200000001", **campaign_kw: Any) -> World:
    inst = factories.make_institution(session, name="Kabupaten Katingan", code="KTG")
    unit = factories.make_unit(session, inst, name="Dinas Kependudukan")
    camp = factories.make_campaign(session, inst, **campaign_kw)
    person = factories.make_person(session, unit, phone=phone, name="Budi Santoso")
    assignment, token = factories.make_assignment(session, camp, person)
    session.commit()
    return World(inst, unit, camp, person, assignment, token)


def second_survey(session: Session, phone: str) -> tuple[Assignment, str]:
    """The same number sampled again, as a service user of another institution."""
    inst = factories.make_institution(session, name="Kota Palangka Raya", code="PLK")
    unit = factories.make_unit(session, inst, name="DPMPTSP")
    camp = factories.make_campaign(session, inst)
    person = factories.make_person(session, unit, phone=phone, group="external", name="Budi")
    assignment, token = factories.make_assignment(session, camp, person)
    session.commit()
    return assignment, token


def replies_to(session: Session, phone: str) -> list[str]:
    """Reply bodies enqueued for a number, oldest first."""
    from dispatch.models import Outbox

    rows = session.exec(select(Outbox).where(Outbox.to_address == phone)).all()
    rows = sorted(rows, key=lambda r: (r.created_at or utcnow(), r.id or 0))
    return [r.payload.get("body", "") for r in rows if r.purpose == "reply"]


def settle(timeout: float = 20) -> None:
    """Wait (bounded) until every stored inbound message is decided. The app decides replies in
    its decider thread(s) after the webhook's response; this also handles what they have not
    taken yet, so a test never depends on their timing."""
    import time

    from bot.models import InboundMessage
    from bot.service import process_pending
    from core.db import session_scope

    deadline = time.monotonic() + timeout
    while True:
        process_pending()
        with session_scope() as s:
            undecided = s.exec(select(InboundMessage.id)
                               .where(InboundMessage.status == "received")).first()
        if undecided is None:
            return
        assert time.monotonic() < deadline, "inbound messages still undecided"
        time.sleep(0.05)


def past(days: int) -> Any:
    return utcnow() - timedelta(days=days)
