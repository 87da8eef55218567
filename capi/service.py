"""Offline CAPI: what an interviewer's tablet downloads (the bundle) and how its interviews are
stored (the sync), exactly once each.

- `bundle`: the open campaigns of the interviewer's institution, their questionnaires (as data,
  from responses), the respondents handed to this interviewer (name and unit only, nothing to
  contact them with), the counters with their intercept interval k, the refusal reasons.
- `sync`: a batch of items, each stored in its own transaction so a partly bad batch stores the
  good items. Idempotent by the device's `submission_id`: the same id with the same body answers
  "already stored" and stores nothing; the same id with another body is refused with a reason the
  app shows. Answers go through responses' own writer (`submit_answers` for an assigned respondent,
  `submit_unlinked` for an intercept, which has no identity at all) with source `capi`; a refusal
  stores no response and no personal data.
- Devices and wipe orders: every contact records the device; a pending wipe order is answered
  `wipe: true` (nothing of that batch is stored) until the app confirms it deleted its pending
  items (`confirm_wipe`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from capi.intercept import interval
from capi.models import CapiDevice, CapiSubmission, InterviewerAssignment, Mode, Outcome, WipeOrder
from core.clock import as_utc, utcnow
from core.datafiles import read_yaml
from core.db import session_scope
from core.models import CLOSED_STATUSES, Assignment, Campaign, Person, Unit
from qr import Counter
from responses import (
    AlreadySubmitted,
    InvalidAnswers,
    SubmissionConflict,
    load_questionnaire,
    submit_answers,
    submit_unlinked,
)

DATA = Path(__file__).parent / "data" / "capi.yaml"
SOURCE = "capi"
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@lru_cache
def settings() -> dict[str, Any]:
    """capi/data/capi.yaml, parsed once."""
    data = read_yaml(DATA)
    assert isinstance(data, dict), f"{DATA}: expected a mapping"
    return data


def message(key: str) -> str:
    return str(settings()["messages"][key])


def valid_device_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID.match(value) else None


# --- the bundle ---------------------------------------------------------------------------------


def open_campaigns(session: Session, institution_id: int) -> list[Campaign]:
    now = utcnow()
    rows = session.exec(select(Campaign).where(Campaign.institution_id == institution_id,
                                               col(Campaign.status).not_in(CLOSED_STATUSES))).all()
    return [c for c in rows if c.is_open(now)]


def questionnaire_data(group: str, year: int) -> dict[str, Any]:
    """A questionnaire as the app renders it (text, options, conditions; no scoring data)."""
    q = load_questionnaire(group, year)
    return {"group": q.group, "year": q.year, "title": q.title, "pages": [
        {"id": p.id, "title": p.title, "intro": p.intro, "questions": [
            {"id": x.id, "text": x.text, "prompt": x.prompt, "options": [list(o) for o in x.options],
             "required_if": {k: list(v) for k, v in (x.required_if or {}).items()}}
            for x in p.questions]}
        for p in q.pages]}


def bundle(session: Session, interviewer_id: int, institution_id: int) -> dict[str, Any]:
    campaigns = open_campaigns(session, institution_id)
    by_id = {c.id: c for c in campaigns}
    rows = session.exec(
        select(Assignment, Person.name, Unit.name)
        .join(InterviewerAssignment, col(InterviewerAssignment.assignment_id) == Assignment.id)
        .join(Person, col(Person.id) == Assignment.person_id)
        .outerjoin(Unit, col(Unit.id) == Assignment.unit_id)
        .where(InterviewerAssignment.interviewer_id == interviewer_id,
               col(Assignment.campaign_id).in_(list(by_id)), col(Assignment.active).is_(True),
               col(Assignment.responded_at).is_(None), col(InterviewerAssignment.refused_at).is_(None))
        .order_by(col(Unit.name), col(Person.name))
    ).all()
    groups = {("external", c.year) for c in campaigns}
    people = []
    for a, name, unit in rows:
        group = load_questionnaire(_survey_group(a.group), by_id[a.campaign_id].year).group
        groups.add((group, by_id[a.campaign_id].year))
        people.append({"assignment_id": a.id, "campaign_id": a.campaign_id, "name": name, "unit": unit or "",
                       "group": group})
    quota = int(settings()["intercept_daily_quota"])
    counters = session.exec(
        select(Counter, Unit.name).join(Unit, col(Unit.id) == Counter.unit_id)
        .where(Counter.institution_id == institution_id).order_by(col(Unit.name), col(Counter.name))
    ).all()
    return {
        "campaigns": [{"id": c.id, "name": c.name, "year": c.year} for c in campaigns],
        "questionnaires": {f"{g}:{y}": questionnaire_data(g, y) for g, y in sorted(groups)},
        "assignments": people,
        "counters": [{"id": c.id, "name": c.name, "unit": unit, "k": interval(c.daily_visitors, quota)}
                     for c, unit in counters],
        "refusal_reasons": settings()["refusal_reasons"],
    }


def _survey_group(group: str) -> str:
    return "external" if group == "vendor" else group


# --- devices and wipe orders --------------------------------------------------------------------


def touch_device(session: Session, device_id: str, institution_id: int, interviewer_id: int) -> bool:
    """Record a contact from this device; True when a wipe order for it is pending."""
    now = utcnow()
    device = session.exec(select(CapiDevice).where(CapiDevice.device_id == device_id)).first()
    if device is None:
        device = CapiDevice(device_id=device_id, institution_id=institution_id, first_seen_at=now,
                            last_seen_at=now, last_interviewer_id=interviewer_id)
    device.last_seen_at, device.last_interviewer_id = now, interviewer_id
    session.add(device)
    return wipe_pending(session, device_id)


def wipe_pending(session: Session, device_id: str) -> bool:
    return session.exec(select(WipeOrder.id).where(WipeOrder.device_id == device_id,
                                                   col(WipeOrder.obeyed_at).is_(None))).first() is not None


def order_wipe(session: Session, device_id: str, institution_id: int, actor: str) -> WipeOrder:
    order = WipeOrder(device_id=device_id, institution_id=institution_id, ordered_by=actor, ordered_at=utcnow())
    session.add(order)
    session.flush()
    return order


def confirm_wipe(session: Session, device_id: str) -> int:
    """The device deleted its pending items: its open orders are obeyed. Returns how many."""
    orders = session.exec(select(WipeOrder).where(WipeOrder.device_id == device_id,
                                                  col(WipeOrder.obeyed_at).is_(None))).all()
    for order in orders:
        order.obeyed_at = utcnow()
        session.add(order)
    return len(orders)


# --- the sync ------------------------------------------------------------------------------------


@dataclass
class ItemResult:
    submission_id: str
    status: str  # stored | duplicate | rejected
    message: str
    errors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"submission_id": self.submission_id, "status": self.status, "message": self.message}
        if self.errors:
            out["errors"] = self.errors
        return out


class Rejected(Exception):
    def __init__(self, key: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(key)
        self.key, self.errors = key, errors or {}


def item_hash(item: dict[str, Any]) -> str:
    """The digest of an item as the device sent it (canonical JSON)."""
    return hashlib.sha256(json.dumps(item, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def sync(interviewer_id: int, institution_id: int, device_id: str, items: list[Any]) -> list[ItemResult]:
    """Store each item in its own transaction; one result per item, in order."""
    return [_sync_one(interviewer_id, institution_id, device_id, item) for item in items]


def _sync_one(interviewer_id: int, institution_id: int, device_id: str, item: Any) -> ItemResult:
    sid = item.get("submission_id") if isinstance(item, dict) else None
    if not isinstance(sid, str) or not _ID.match(sid):
        return ItemResult(str(sid)[:64] if sid is not None else "", "rejected", message("bad_item"))
    digest = item_hash(item)
    for _attempt in range(2):  # a second time only when a concurrent sync stored the same id first
        try:
            with session_scope(write=True) as session:
                seen = session.exec(select(CapiSubmission).where(CapiSubmission.submission_id == sid)).first()
                if seen is not None:
                    if seen.body_hash == digest and seen.interviewer_id == interviewer_id:
                        return ItemResult(sid, "duplicate", message("already_stored"))
                    return ItemResult(sid, "rejected", message("conflict"))
                _store(session, interviewer_id, institution_id, device_id, item, sid, digest)
                return ItemResult(sid, "stored", message("stored"))
        except Rejected as exc:
            return ItemResult(sid, "rejected", message(exc.key), exc.errors)
        except IntegrityError:
            continue
    return ItemResult(sid, "rejected", message("conflict"))


def _campaign(session: Session, item: dict[str, Any], institution_id: int) -> Campaign:
    campaign_id = item.get("campaign_id")
    campaign = session.get(Campaign, campaign_id) if isinstance(campaign_id, int) else None
    if campaign is None or campaign.institution_id != institution_id or not campaign.is_open():
        raise Rejected("no_campaign")
    return campaign


def _interviewed_at(item: dict[str, Any]) -> datetime | None:
    raw = item.get("interviewed_at")
    try:
        at = as_utc(datetime.fromisoformat(str(raw).replace("Z", "+00:00"))) if raw else None
    except ValueError:
        return None
    # A device clock far in the future is not believed.
    return at if at is not None and at <= utcnow() + timedelta(days=1) else None


def _store(session: Session, interviewer_id: int, institution_id: int, device_id: str,
           item: dict[str, Any], sid: str, digest: str) -> None:
    mode, outcome = item.get("mode"), item.get("outcome")
    if mode not in set(Mode) or outcome not in set(Outcome):
        raise Rejected("bad_item")
    answers = item.get("answers") or {}
    if not isinstance(answers, dict) or (outcome == Outcome.done and not answers):
        raise Rejected("invalid" if outcome == Outcome.done else "bad_item")
    reason = item.get("refusal_reason")
    if outcome == Outcome.refused and reason not in settings()["refusal_reasons"]:
        raise Rejected("bad_reason")
    campaign = _campaign(session, item, institution_id)
    response_id: int | None = None
    counter_id: int | None = None
    try:
        if mode == Mode.assigned:
            handed = session.exec(select(InterviewerAssignment).where(
                InterviewerAssignment.assignment_id == item.get("assignment_id"),
                InterviewerAssignment.interviewer_id == interviewer_id)).first()
            assignment = session.get(Assignment, handed.assignment_id) if handed else None
            if assignment is None or assignment.campaign_id != campaign.id:
                raise Rejected("not_yours")
            if outcome == Outcome.done:
                response = submit_answers(session, assignment, answers, source=SOURCE,
                                          submission_id=f"capi:{sid}")
                response_id = response.id
            elif handed is not None:
                handed.refused_at = utcnow()
                session.add(handed)
        else:
            counter = session.get(Counter, item.get("counter_id")) if isinstance(item.get("counter_id"), int) else None
            if counter is None or counter.institution_id != institution_id:
                raise Rejected("bad_counter")
            counter_id = counter.id
            if outcome == Outcome.done:
                response = submit_unlinked(session, campaign, answers, group="external", unit_id=counter.unit_id,
                                           source=SOURCE, submission_id=f"capi:{sid}")
                response_id = response.id
    except InvalidAnswers as exc:
        raise Rejected("invalid", exc.errors) from exc
    except AlreadySubmitted as exc:
        raise Rejected("already_answered") from exc
    except SubmissionConflict as exc:
        raise Rejected("conflict") from exc
    session.add(CapiSubmission(
        submission_id=sid, interviewer_id=interviewer_id, institution_id=institution_id,
        campaign_id=campaign.id, device_id=device_id, body_hash=digest, mode=mode, outcome=outcome,  # type: ignore[arg-type]
        counter_id=counter_id, refusal_reason=reason if outcome == Outcome.refused else None,
        response_id=response_id, interviewed_at=_interviewed_at(item), received_at=utcnow(),
    ))
    session.flush()


# --- the PIC's view -------------------------------------------------------------------------------


def assign(session: Session, assignment_ids: list[int], interviewer_id: int, institution_id: int,
           actor: str) -> int:
    """Hand these (not yet answered) assignments of the institution to an interviewer; an
    assignment already handed to someone moves to this interviewer. Returns how many."""
    count = 0
    for a in session.exec(select(Assignment).join(Campaign, col(Campaign.id) == Assignment.campaign_id)
                          .where(col(Assignment.id).in_(assignment_ids),
                                 Campaign.institution_id == institution_id,
                                 col(Assignment.responded_at).is_(None))).all():
        row = session.exec(select(InterviewerAssignment)
                           .where(InterviewerAssignment.assignment_id == a.id)).first()
        row = row or InterviewerAssignment(assignment_id=a.id, interviewer_id=interviewer_id,  # type: ignore[arg-type]
                                           institution_id=institution_id, assigned_at=utcnow())
        row.interviewer_id, row.assigned_by = interviewer_id, actor
        session.add(row)
        count += 1
    session.flush()
    return count


@dataclass
class Row:
    label: str
    assigned: int = 0
    done: int = 0
    refused: int = 0
    unsynced_days: int | None = None  # days since the last sync (None: never synced)
    fast: int = 0  # the most interviews inside one fast_window_minutes (a signal at fast_interviews)

    @property
    def too_fast(self) -> bool:
        return self.fast >= int(settings()["fast_interviews"])


def most_within(times: list[datetime], window: timedelta) -> int:
    """The most of these (sorted) times inside any one window of that length."""
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def overview(session: Session, institution_id: int,
             interviewers: dict[int, str]) -> tuple[list[Row], list[Row]]:
    """Per interviewer (`interviewers`: id -> label, from the dashboard's users) and per counter:
    assigned, done, refused, and whole days since the last sync."""
    now = utcnow()
    people = {i: Row(label) for i, label in interviewers.items()}
    for interviewer_id, n in session.exec(
            select(InterviewerAssignment.interviewer_id, func.count())
            .where(InterviewerAssignment.institution_id == institution_id)
            .group_by(col(InterviewerAssignment.interviewer_id))).all():
        if interviewer_id in people:
            people[interviewer_id].assigned = int(n)
    counters = {c.id: Row(f"{unit} — {c.name}") for c, unit in session.exec(
        select(Counter, Unit.name).join(Unit, col(Unit.id) == Counter.unit_id)
        .where(Counter.institution_id == institution_id).order_by(col(Unit.name), col(Counter.name))).all()}
    for interviewer_id, counter_id, outcome, n, last in session.exec(
            select(  # type: ignore[call-overload]
                   CapiSubmission.interviewer_id, CapiSubmission.counter_id, CapiSubmission.outcome,
                   func.count(), func.max(CapiSubmission.received_at))
            .where(CapiSubmission.institution_id == institution_id)
            .group_by(col(CapiSubmission.interviewer_id), col(CapiSubmission.counter_id),
                      col(CapiSubmission.outcome))).all():
        for row in (people.get(interviewer_id), counters.get(counter_id)):
            if row is None:
                continue
            if outcome == Outcome.done:
                row.done += int(n)
            else:
                row.refused += int(n)
            days = (now - as_utc(last)).days if last is not None else None
            if days is not None and (row.unsynced_days is None or days < row.unsynced_days):
                row.unsynced_days = days
    window = timedelta(minutes=int(settings()["fast_window_minutes"]))
    for interviewer_id, row in people.items():
        times = sorted(as_utc(t) for t in session.exec(  # type: ignore[arg-type]
            select(CapiSubmission.interviewed_at).where(
                CapiSubmission.institution_id == institution_id, CapiSubmission.interviewer_id == interviewer_id,
                CapiSubmission.outcome == Outcome.done, col(CapiSubmission.interviewed_at).is_not(None))).all())
        row.fast = most_within(times, window)
    return list(people.values()), list(counters.values())
