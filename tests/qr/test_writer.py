"""The registration writer: a batch of registrations in one transaction, each decided on its
own against those before it (duplicate numbers, per-counter limit), failures isolated."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from core.aio import run_sync
from core.assignments import find_by_token
from core.clock import utcnow
from core.config import get_settings, reset_settings
from core.models import Assignment, Person, Unit
from qr import cache, writer
from qr.validation import VisitorForm
from tests.qr.conftest import World


def form(phone: str) -> VisitorForm:
    return VisitorForm(name="Siti Rahmawati", phone=phone, email=None, service="Pembuatan KTP",
                       service_date=utcnow().date())


def jobs(world: World, phones: list[str], counter: str | None = "L1",
         unit: Unit | None = None) -> tuple[list[writer.Job], dict[str, object]]:
    """Jobs for these numbers; the outcome of each lands in the returned dict by number."""
    view = cache.view_of(world.institution.code, world.unit.code)
    assert view is not None and world.campaign.id is not None
    outcomes: dict[str, object] = {}
    made = []
    for phone in phones:
        def done(result: object, phone: str = phone) -> None:
            outcomes[phone] = result
        made.append(writer.Job(get_settings().database_url, world.campaign.id, unit or view.unit,
                               counter, form(phone), done))
    return made, outcomes


def active(session: Session) -> list[Assignment]:
    session.expire_all()
    return list(session.exec(select(Assignment).where(Assignment.active)).all())


def test_a_batch_decides_each_number_against_the_ones_before_it(
    world: World, session: Session
) -> None:
    phones = ["+6281234567801", "+6281234567802", "+6281234567801"]
    batch, outcomes = jobs(world, phones)
    writer.write_batch(batch)
    assert len(outcomes) == 2 and all(isinstance(o, writer.Saved) and o.path for o in outcomes.values())
    assert len(active(session)) == 2  # the same number twice in one batch: one active
    assert int(session.exec(select(func.count()).select_from(Assignment)).one()) == 3
    excluded = session.exec(select(Person).where(Person.reason == "duplicate_phone")).all()
    assert [p.phone for p in excluded] == ["+6281234567801"]


def test_the_counter_limit_holds_inside_a_batch(
    world: World, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QR_COUNTER_LIMIT", "2")
    reset_settings()
    at_l1, l1 = jobs(world, ["+6281234567811", "+6281234567812", "+6281234567813"])
    at_l2, l2 = jobs(world, ["+6281234567814"], counter="L2")
    writer.write_batch(at_l1 + at_l2)
    refused = [o for o in l1.values() if isinstance(o, writer.Saved) and o.refused]
    assert len(refused) == 1 and refused[0].refused == "rate_counter"
    assert isinstance(l2["+6281234567814"], writer.Saved) and l2["+6281234567814"].path
    assert len(active(session)) == 3


def test_a_failing_registration_does_not_fail_the_others(
    world: World, session: Session
) -> None:
    assert world.institution.id is not None
    ghost = Unit(id=999_999, institution_id=world.institution.id, code="GHOST", name="Hantu",
                 services=[], counters=[])  # no such unit: the insert of its person fails
    good, outcomes = jobs(world, ["+6281234567821", "+6281234567823"])
    bad, bad_outcome = jobs(world, ["+6281234567822"], unit=ghost)
    writer.write_batch(good + bad)
    assert isinstance(bad_outcome["+6281234567822"], Exception)
    assert all(isinstance(o, writer.Saved) and o.path for o in outcomes.values())
    assert len(active(session)) == 2


def test_concurrent_saves_each_get_their_own_questionnaire(
    world: World, session: Session
) -> None:
    view = cache.view_of(world.institution.code, world.unit.code)
    assert view is not None and world.campaign.id is not None
    campaign_id, unit = world.campaign.id, view.unit

    async def many() -> list[writer.Saved]:
        return await asyncio.gather(*(writer.save(campaign_id, unit, "L2", form(f"+62812345679{n:02d}"))
                                      for n in range(20)))

    saved = run_sync(many)  # a fresh loop, also when a test before left one running
    paths = [s.path for s in saved]
    assert all(paths) and len(set(paths)) == 20
    found = [find_by_token(session, str(p).removeprefix("/s/")) for p in paths]
    assert all(a is not None and a.active and a.counter == "L2" for a in found)


OUTBOX_COLUMNS = ("key", "lane", "channel", "purpose", "wave", "to_address", "sender", "tz",
                  "payload", "status", "attempts", "campaign_id", "assignment_id", "unit_id",
                  "institution_id", "fallback_of")


def outbox_of(session: Session, assignment_id: int) -> list[dict[str, object]]:
    from dispatch.models import Outbox

    session.expire_all()
    rows = session.exec(select(Outbox).where(Outbox.assignment_id == assignment_id)).all()
    return sorted(({c: getattr(r, c) for c in OUTBOX_COLUMNS} for r in rows),
                  key=lambda r: str(r["key"]))


def test_a_batch_enqueues_exactly_the_link_messages_dispatch_would(
    world: World, session: Session
) -> None:
    """The batch writes the outbox rows itself (one INSERT); they must be those that
    dispatch.service.enqueue_link writes for the same assignment, WhatsApp and email."""
    from dispatch.models import Outbox
    from dispatch.service import enqueue_link

    batch, outcomes = jobs(world, ["+6281234567831", "+6281234567832"])
    batch[0] = writer.Job(batch[0].database_url, batch[0].campaign_id, batch[0].unit,
                          batch[0].counter, VisitorForm(
                              name="Budi", phone="+6281234567831", email="Budi@Example.id",
                              service="Pembuatan KK", service_date=utcnow().date()),
                          batch[0].done)
    writer.write_batch(batch)
    for phone, channels in (("+6281234567831", {"whatsapp", "email"}),
                            ("+6281234567832", {"whatsapp"})):
        saved = outcomes[phone]
        assert isinstance(saved, writer.Saved) and saved.path
        assignment = find_by_token(session, saved.path.removeprefix("/s/"))
        assert assignment is not None and assignment.id is not None
        written = outbox_of(session, assignment.id)
        assert {r["channel"] for r in written} == channels
        for row in session.exec(select(Outbox).where(Outbox.assignment_id == assignment.id)):
            session.delete(row)
        session.flush()
        assert enqueue_link(session, assignment, purpose="registration") == len(channels)
        session.commit()
        assert outbox_of(session, assignment.id) == written


def test_a_known_number_gets_its_own_link_again_not_a_new_one(
    world: World, session: Session
) -> None:
    first, outcomes = jobs(world, ["+6281234567841"])
    writer.write_batch(first)
    again, again_outcomes = jobs(world, ["+6281234567841", "+6281234567841"])
    writer.write_batch(again)
    session.expire_all()
    from dispatch.models import Outbox

    rows = session.exec(select(Outbox).where(Outbox.to_address == "+6281234567841")).all()
    saved = outcomes["+6281234567841"]
    assert isinstance(saved, writer.Saved) and saved.path
    original = find_by_token(session, saved.path.removeprefix("/s/"))
    assert original is not None
    assert [r.assignment_id for r in rows] == [original.id]  # one message, the first link
    assert isinstance(again_outcomes["+6281234567841"], writer.Saved)


def test_a_number_is_known_only_by_its_active_assignment_in_this_campaign(
    world: World, session: Session
) -> None:
    """The look-up behind "one active registration per number": people with the number but
    no assignment, an inactive one, or one in another campaign do not make it known."""
    from qr import service
    from tests.factories import make_assignment, make_campaign, make_person

    other = make_campaign(session, world.institution, name="SPI lain")
    phone, elsewhere, inactive = "+6281234567851", "+6281234567852", "+6281234567853"
    make_person(session, world.unit, group="external", phone=phone)  # listed, never assigned
    wanted, _ = make_assignment(session, world.campaign,
                                make_person(session, world.unit, group="external", phone=phone))
    make_assignment(session, other, make_person(session, world.unit, group="external",
                                                phone=elsewhere))
    make_assignment(session, world.campaign,
                    make_person(session, world.unit, group="external", phone=inactive),
                    active=False)
    session.commit()
    assert world.campaign.id is not None
    found = service.active_assignments_of_phones(
        session, world.campaign.id, [phone, elsewhere, inactive, "+6281234567854", phone])
    assert {p: a.id for p, a in found.items()} == {phone: wanted.id}
    assert service.active_assignments_of_phones(session, world.campaign.id, []) == {}
