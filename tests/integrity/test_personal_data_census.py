"""The personal-data census (issue #21): every column that can hold a person's name, number, email
or free text is marked on its model (`core.models.personal()` on Column.info) and covered by the
purge (`integrity.purge.COVERAGE`); a column named like contact data carries an explicit marker;
and a closed campaign purged after its retention leaves none of its population's contacts in any
marked column, on both backends, with scores and report totals unchanged."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, text
from sqlmodel import Session, SQLModel, col, select
from typer.testing import CliRunner

from app.registry import import_all_models
from bot.models import ConversationEntry, ConversationState, InboundMessage, IntentEvent
from core.audit import AuditLog
from core.clock import utcnow
from core.models import Assignment, AssignmentKind, OptOut, Person
from dispatch.models import Outbox, Unreachable, WhatsAppReach
from integrity import purge
from reports import build_report
from responses.scoring import score_institution
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit
from tests.integrity.helpers import build_world

# (b): a column whose name says it may hold contact data or free text
CONTACT_LIKE = re.compile(r"(^|_)(name|phone|email|address|text|body|payload|contact|number)(_|$)")


def _metadata() -> MetaData:
    import_all_models()
    return SQLModel.metadata


def unmarked_contact_like(metadata: MetaData) -> list[str]:
    """Columns named like contact data with no explicit marker (on Column.info or, for models the
    purge module may not edit, in purge.NOT_PERSONAL)."""
    return sorted(f"{t.name}.{c.name}" for t in metadata.sorted_tables for c in t.columns
                  if CONTACT_LIKE.search(c.name) and "personal" not in c.info
                  and f"{t.name}.{c.name}" not in purge.NOT_PERSONAL)


# --- (a) every marked column is covered by the purge ------------------------------------------


def test_every_personal_column_is_covered_by_the_purge() -> None:
    metadata = _metadata()
    marked = purge.personal_columns(metadata)
    assert "person.phone" in marked and "bot_conversation.body" in marked and "outbox.payload" in marked
    assert purge.uncovered(metadata) == []
    assert sorted(purge.COVERAGE) == marked  # no entry for a column that is not (or no longer) marked
    assert purge.KEPT <= set(purge.COVERAGE)


def test_a_new_personal_column_without_purge_coverage_fails_the_census() -> None:
    metadata = MetaData()
    Table("visitor_note", metadata, Column("id", String, primary_key=True),
          Column("free_text", Text, info={"personal": True}))
    assert purge.uncovered(metadata) == ["visitor_note.free_text"]


# --- (b) a column named like contact data says whether it is personal -------------------------


def test_every_contact_like_column_is_marked() -> None:
    assert unmarked_contact_like(_metadata()) == []


def test_the_heuristic_guard_catches_an_unmarked_column() -> None:
    metadata = MetaData()
    Table("survey_contact", metadata, Column("id", String, primary_key=True),
          Column("contact_email", String), Column("display_name", String, info={"personal": False}))
    assert unmarked_contact_like(metadata) == ["survey_contact.contact_email"]


# --- (c) the purge of a closed campaign after retention, census of every marked column ---------

OLD = utcnow() - timedelta(days=800)


def _population_with_traces(session: Session) -> tuple[Any, dict[str, Any]]:
    """A closed campaign whose population left a trace in every table that can hold one, and
    another institution's live campaign (one of its people shares a number with the first)."""
    w = build_world(session, n=12, opens=OLD, status="closed")
    cid = int(w.campaign.id)  # type: ignore[arg-type]
    unit = w.units[0]
    # never sampled: a row of the population list and a guest-book entry; a walk-in registration
    make_person(session, unit, name="Responden Belum Terpilih", created_at=OLD)
    make_person(session, unit, group="external", name="Responden Buku Tamu", source="guestbook",
                service_name="Pembuatan KTP", created_at=OLD + timedelta(days=3))
    walk_in = make_person(session, unit, group="external", name="Responden Loket", source="registration",
                          created_at=OLD + timedelta(days=2))
    make_assignment(session, w.campaign, walk_in, kind=AssignmentKind.participatory, counter="L1")
    people = session.exec(select(Person).where(col(Person.institution_id) == w.institution.id)).all()
    at = OLD + timedelta(days=5)
    for p in people:
        assert p.phone and p.email
        assignment = session.exec(select(Assignment).where(col(Assignment.person_id) == p.id)).first()
        session.add(Outbox(key=f"inv-{p.id}", channel="whatsapp", purpose="invitation", to_address=p.phone,
                           payload={"template": "invitation", "vars": {"1": p.name}, "nonce": "n"},
                           status="delivered", next_attempt_at=at, created_at=at,
                           campaign_id=cid if assignment else None,
                           assignment_id=assignment.id if assignment else None))
        # a bot exchange: reply rows have no campaign; the log holds the name in the reply
        session.add(Outbox(key=f"reply:SM{p.id}", channel="whatsapp", purpose="reply", to_address=p.phone,
                           payload={"body": f"Halo {p.name}, ini tautan Anda"}, status="delivered",
                           next_attempt_at=at, created_at=at, lane=0))
        session.add(InboundMessage(message_sid=f"SM{p.id}", from_number=p.phone,
                                   body=f"Isi survei, saya {p.name} {p.email}", received_at=at))
        session.add(ConversationEntry(at=at, phone=p.phone, direction="in", body="Isi Survei"))
        session.add(ConversationEntry(at=at, phone=p.phone, direction="out", body=f"Halo {p.name}"))
        session.add(IntentEvent(at=at, intent="isi_survei", phone=p.phone, institution_id=w.institution.id))
        session.add(ConversationState(phone=p.phone, mode="faq", updated_at=at))
        session.add(WhatsAppReach(address=p.phone, last_at=at))
        session.add(Outbox(key=f"mail-{p.id}", channel="email", purpose="invitation", to_address=p.email,
                           payload={"vars": {"1": p.name}}, status="failed", error_message=f"bounce {p.email}",
                           next_attempt_at=at, created_at=at, campaign_id=cid))
    session.add(Unreachable(address=str(people[0].email), channel="email", at=at))
    session.add(OptOut(address=str(people[1].phone), channel="whatsapp", opted_out_at=at))  # kept: STOP
    # Another institution, live: a person sharing a number with the closed campaign's first person.
    other_inst = make_institution(session)
    other = make_campaign(session, other_inst)
    other_unit = make_unit(session, other_inst)
    shared = str(people[2].phone)
    neighbour = make_person(session, other_unit, name="Warga Lain", phone=shared, email="warga.lain@contoh.go.id")
    make_assignment(session, other, neighbour)
    session.add(Outbox(key="other-inv", channel="whatsapp", purpose="invitation", to_address=shared,
                       payload={"vars": {"1": "Warga Lain"}}, next_attempt_at=at, created_at=at,
                       campaign_id=other.id))
    session.commit()
    contacts = {"names": {p.name for p in people}, "phones": {p.phone for p in people},
                "emails": {p.email for p in people}, "shared": people[2].phone, "stop": people[1].phone,
                "people": len(people)}
    return w, contacts


def _figures(session: Session, campaign_id: int) -> dict[str, Any]:
    score = asdict(score_institution(session, campaign_id))
    report = build_report(session, campaign_id)
    return {"score": json.dumps(score, sort_keys=True, default=str),
            "respondents": report.respondents,
            "participation": [(u.name, u.assigned, u.responded) for u in report.participation]}


def _census(session: Session, values: set[str]) -> dict[str, list[str]]:
    """Every marked personal column (those the purge keeps aside) that still holds one of `values`."""
    found: dict[str, list[str]] = {}
    for name in purge.personal_columns(_metadata()):
        if name in purge.KEPT:
            continue
        table, column = name.split(".")
        for (value,) in session.execute(text(f'SELECT "{column}" FROM "{table}"')):  # noqa: S608 - names from the metadata
            stored = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            hits = [v for v in values if v and v in (stored or "")]
            if hits:
                found.setdefault(name, []).extend(hits)
    return found


def test_a_purged_campaign_leaves_no_contact_of_its_population(session: Session) -> None:
    from cli import app

    w, contacts = _population_with_traces(session)
    cid = int(w.campaign.id)
    gone = (contacts["names"] | contacts["phones"] | contacts["emails"]) - {contacts["shared"]}
    before = _figures(session, cid)
    assert _census(session, gone)  # the traces are there to find

    done = CliRunner().invoke(app, ["purge", "--campaign", str(cid), "--force"])
    assert done.exit_code == 0, done.output
    assert "Purge report" in done.output and "bot_conversation" in done.output
    session.rollback()  # a fresh snapshot: the command committed in its own session

    assert _census(session, gone) == {}
    # a number still on a live campaign's person stays there, and that campaign's messages too
    assert session.exec(select(Person.name).where(col(Person.phone) == contacts["shared"])).all() == ["Warga Lain"]
    assert session.exec(select(Outbox.to_address).where(col(Outbox.key) == "other-inv")).one() == contacts["shared"]
    # a request to stop is honoured for good: the one personal value kept
    assert session.exec(select(OptOut.address)).all() == [contacts["stop"]]
    assert _figures(session, cid) == before  # scores and report totals unchanged
    entry = session.exec(select(AuditLog).where(col(AuditLog.action) == "campaign.purge")).one()
    assert entry.details["people"] == contacts["people"] and entry.details["optouts_kept"] == 1
    assert entry.details["tables"]["bot_conversation"] == 2 * (contacts["people"] - 1)
    assert entry.details["tables"]["person"] == contacts["people"]
