"""Delivery problems: failed messages grouped by reason in plain Indonesian, per unit, and the
list a PIC sends back to units to fix contact data.

A respondent counts once per channel; a failure later followed by a successful send on the same
channel (e.g. a fixed number) is no longer a problem.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from core.datafiles import read_yaml
from core.labels import label
from core.models import Assignment, Campaign, Person, Unit
from dispatch import Outbox
from monitor.stats import SENT

REASONS_FILE = Path(__file__).parent / "data" / "reasons.yaml"


@lru_cache
def _reasons() -> dict[str, dict[str, str]]:
    data = read_yaml(REASONS_FILE)
    return {k: {str(a): str(b) for a, b in v.items()} for k, v in data.items()}


def reason_key(error_class: Any) -> str:
    reasons = _reasons()
    if error_class and str(error_class) in reasons["by_class"]:
        return reasons["by_class"][str(error_class)]
    return "other"


def reason_label(key: str) -> str:
    return _reasons()["labels"].get(key, _reasons()["labels"]["other"])


def reason_action(key: str) -> str:
    return _reasons()["actions"].get(key, _reasons()["actions"]["other"])


def contact_ok(key: str) -> bool:
    """The contact is fine (e.g. sent by email instead, cancelled): nothing for a unit to fix."""
    return key in _reasons().get("contact_ok", {})


def not_failure(key: str) -> bool:
    """Not a delivery failure (cancelled, or still waiting): the respondent is not unreachable."""
    return key in _reasons().get("not_failures", {})


@dataclass(frozen=True)
class Failure:
    assignment_id: int
    unit_id: int | None
    channel: str
    reason: str  # key into reasons.yaml


def _scan(session: Session, campaign: Campaign) -> tuple[dict[tuple[int, str], Failure], set[int]]:
    """The latest failure per (respondent, channel) and the respondents with a successful send on
    some channel."""
    ok: set[tuple[int, str]] = set()
    latest: dict[tuple[int, str], Failure] = {}
    # SQLModel's select() is typed for at most 4 entities: the columns go in as a list
    columns: list[Any] = [Outbox.assignment_id, Outbox.unit_id, Outbox.channel, Outbox.status, Outbox.error_class]
    rows = session.exec(
        select(*columns).where(col(Outbox.campaign_id) == campaign.id, col(Outbox.status).in_(("failed", *SENT)))
        .order_by(col(Outbox.updated_at))
    )
    for assignment_id, unit_id, channel, status, err_class in rows:
        key = (assignment_id, channel)
        if status in SENT:
            ok.add(key)
            continue
        latest[key] = Failure(assignment_id, unit_id, channel, reason_key(err_class))
    return {k: f for k, f in latest.items() if k not in ok}, {a for a, _ in ok}


def failures(session: Session, campaign: Campaign) -> list[Failure]:
    """The open delivery problems of a campaign (latest failure per respondent and channel)."""
    return list(_scan(session, campaign)[0].values())


def unreachable(session: Session, campaign: Campaign) -> dict[tuple[int | None, str], int]:
    """Respondents no message reached on any channel while one failed, counted per (unit id, draw
    group: vendors count as external): whom a reserve may replace."""
    failed, reached = _scan(session, campaign)
    ids = sorted({f.assignment_id for f in failed.values() if not not_failure(f.reason)} - reached)
    counts: Counter[tuple[int | None, str]] = Counter()
    for start in range(0, len(ids), 500):
        for unit_id, group in session.exec(
            select(Assignment.unit_id, Assignment.group).where(col(Assignment.id).in_(ids[start:start + 500]))
        ):
            counts[(unit_id, "internal" if group == "internal" else "external")] += 1
    return dict(counts)


def by_reason(found: list[Failure]) -> list[tuple[str, str, int]]:
    """(reason label, what to do, count) most frequent first."""
    counts = Counter(f.reason for f in found)
    return [(reason_label(k), reason_action(k), n) for k, n in counts.most_common()]


def by_unit(session: Session, campaign: Campaign, found: list[Failure]) -> tuple[list[str], list[list[Any]]]:
    """A unit × reason matrix: the reason labels (columns) and rows [unit, count per reason…, total]."""
    reasons = [k for k, _ in Counter(f.reason for f in found).most_common()]
    units = {u.id: u for u in session.exec(select(Unit).where(Unit.institution_id == campaign.institution_id))}
    matrix: dict[int | None, Counter[str]] = {}
    for f in found:
        matrix.setdefault(f.unit_id, Counter())[f.reason] += 1
    rows: list[list[Any]] = []
    for unit_id, counts in matrix.items():
        unit = units.get(unit_id)
        rows.append([unit.name if unit else "(tanpa unit)", *[counts.get(k, 0) for k in reasons],
                     sum(counts.values())])
    rows.sort(key=lambda r: (-r[-1], r[0]))
    return [reason_label(k) for k in reasons], rows


def contact_list(session: Session, campaign: Campaign, found: list[Failure]) -> list[list[Any]]:
    """Rows for the units to fix: unit, name, channel, contact on file, reason, what to do.

    Says nothing about whether anyone responded. Reasons with nothing to fix (`contact_ok`) are
    left out.
    """
    found = [f for f in found if not contact_ok(f.reason)]
    if not found:
        return []
    ids = sorted({f.assignment_id for f in found})
    people: dict[int, tuple[Person, Unit | None]] = {}
    unit: Unit | None  # outer join: None for an assignment without a unit
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for assignment_id, person, unit in session.exec(
            select(col(Assignment.id), Person, Unit)
            .join(Person, col(Person.id) == col(Assignment.person_id))
            .join(Unit, col(Unit.id) == col(Assignment.unit_id), isouter=True)
            .where(col(Assignment.campaign_id) == campaign.id, col(Assignment.id).in_(chunk))
        ):
            assert assignment_id is not None  # a primary key
            people[assignment_id] = (person, unit)
    rows = []
    for f in found:
        if f.assignment_id not in people:
            continue
        person, unit = people[f.assignment_id]
        contact = person.email if f.channel == "email" else person.phone
        rows.append([unit.name if unit else "(tanpa unit)", person.name,
                     label("channel", f.channel), contact or "",
                     reason_label(f.reason), reason_action(f.reason)])
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return rows
