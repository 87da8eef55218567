"""Registration figures for the PIC dashboard: per unit, counter and local day, including the
counters with no registration at all (a counter without a poster up shows as zero)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from core.clock import local
from core.models import Assignment, AssignmentKind, Institution, Unit
from qr.service import current_campaign


@dataclass(frozen=True)
class RegistrationRow:
    unit_id: int
    unit_code: str
    unit_name: str
    counter: str | None  # None: registered without a (known) counter
    day: date | None  # local day in the institution's zone; None on a zero row
    count: int


def registrations(session: Session, institution_id: int,
                  campaign_id: int | None = None) -> list[RegistrationRow]:
    """Active participatory registrations per unit, counter and day of one campaign (the
    current one when `campaign_id` is None). Every counter of every unit serving the public
    appears at least once: with `day=None, count=0` when nobody registered there."""
    institution = session.get(Institution, institution_id)
    if institution is None:
        return []
    if campaign_id is None:
        campaign = current_campaign(session, institution_id)
        if campaign is None:
            return []
        campaign_id = campaign.id
    units = {u.id: u for u in session.exec(select(Unit).where(Unit.institution_id == institution_id))}
    query = select(Assignment.unit_id, Assignment.counter, Assignment.created_at).where(
        Assignment.campaign_id == campaign_id,
        Assignment.kind == AssignmentKind.participatory,
        col(Assignment.active),
    )
    counts: Counter[tuple[int, str | None, date]] = Counter()
    for unit_id, counter, created_at in session.exec(query):
        if unit_id is not None and unit_id in units and created_at is not None:
            counts[(unit_id, counter, local(created_at, institution.timezone).date())] += 1
    seen = {(unit_id, counter) for unit_id, counter, _ in counts}
    rows = [
        RegistrationRow(uid, units[uid].code, units[uid].name, counter, day, n)
        for (uid, counter, day), n in counts.items()
    ]
    for unit in units.values():
        if not unit.serves_public:
            continue
        counters: list[str | None] = list(unit.counters or []) or [None]
        for counter in counters:
            if (unit.id, counter) not in seen:
                rows.append(RegistrationRow(unit.id, unit.code, unit.name, counter, None, 0))  # type: ignore[arg-type]
    rows.sort(key=lambda r: (r.unit_code, r.counter or "", r.day or date.min))
    return rows
