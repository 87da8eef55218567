"""Building a campaign with respondents for dispatch tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel import Session

from core.models import Assignment, Campaign, Institution, Person, Unit
from dispatch.service import enqueue_invitations
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit


def campaign_with(
    session: Session, n: int, *, tz: str = "Asia/Jakarta", phone: bool = True, email: bool = True,
    group: str = "internal", **campaign_kw: Any,
) -> tuple[Campaign, Institution, Unit, list[tuple[Assignment, Person]]]:
    inst = make_institution(session, timezone=tz)
    unit = make_unit(session, inst)
    campaign = make_campaign(session, inst, **campaign_kw)
    out = []
    for _ in range(n):
        kw: dict[str, Any] = {"group": group}
        if not phone:
            kw["phone"] = None
        if not email:
            kw["email"] = None
        person = make_person(session, unit, **kw)
        assignment, _ = make_assignment(session, campaign, person)
        out.append((assignment, person))
    session.commit()
    return campaign, inst, unit, out


def bulk_campaign(session: Session, n: int, *, tz: str = "Asia/Jakarta") -> Campaign:
    """A campaign with `n` respondents (phones only), inserted in bulk (fast enough for 10,000s)."""
    from sqlalchemy import insert, select

    from core.clock import utcnow
    from core.tokens import hash_token, new_nonce, token_for

    inst = make_institution(session, timezone=tz)
    unit = make_unit(session, inst)
    campaign = make_campaign(session, inst)
    now = utcnow()
    base = 628500000000
    session.execute(insert(Person), [
        {"institution_id": inst.id, "unit_id": unit.id, "group": "internal", "name": f"Responden {i}",
         "phone": f"+{base + i}", "email": None, "status": "eligible", "flags": [], "source": "test",
         "non_asn": False, "created_at": now}
        for i in range(n)])
    ids = session.execute(select(Person.id).where(Person.institution_id == inst.id)).scalars().all()
    nonces = [new_nonce() for _ in ids]
    session.execute(insert(Assignment), [
        {"campaign_id": campaign.id, "person_id": pid, "unit_id": unit.id, "group": "internal",
         "kind": "sampled", "active": True, "token_nonce": nonce, "token_hash": hash_token(token_for(nonce)),
         "created_at": now}
        for pid, nonce in zip(ids, nonces, strict=True)])
    session.commit()
    return campaign


def token_counts(messages: list[dict[str, Any]]) -> dict[str, int]:
    """How many messages each link token received (the link token is Content variable 6)."""
    import json
    from collections import Counter

    return dict(Counter(json.loads(m["ContentVariables"])["6"] for m in messages))


def run_in_own_loop(coro_fn: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    """Run `coro_fn()` in a fresh event loop in its own thread (independent of any loop another
    test left in this one); re-raise what it raised here."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro_fn())  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=timeout)
    assert not thread.is_alive(), f"still running after {timeout} s"
    if errors:
        raise errors[0]


def invite_by_email_first(session: Session, campaign_id: int, person: Person) -> None:
    """Enqueue the invitation while the person has no phone (so it goes by email), then give
    the phone back: a fallback to WhatsApp has a number to use."""
    phone, person.phone = person.phone, None
    session.add(person)
    session.commit()
    enqueue_invitations(session, campaign_id)
    person.phone = phone
    session.add(person)
    session.commit()
