"""The dashboard's figures for one campaign, straight from indexed tables.

A campaign belongs to one institution (~1,000 assignments, a few thousand outbox rows), so every
query here is bounded by `campaign_id` / `institution_id` indexes and stays small even when the
database holds a national campaign. Who responded is read from `Assignment.responded_at`; what they
answered is never touched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import and_, case, distinct, func
from sqlmodel import Session, col, select

from core.clock import as_utc, local, utcnow
from core.datafiles import read_yaml
from core.models import Assignment, Campaign, Person, PersonStatus, Unit
from dispatch import Outbox
from population import draw_summary

GROUPS = ("internal", "external", "expert")
QUEUED = ("pending", "sending", "sent", "delivered", "read", "failed", "unknown")
SENT = ("sent", "delivered", "read")
DELIVERED = ("delivered", "read")
# Why a unit's reminder button would queue nothing (monitor/data/reminder_blocked.yaml).
REMINDER_BLOCKED: dict[str, str] = read_yaml(Path(__file__).parent / "data" / "reminder_blocked.yaml")


def survey_group(group: str) -> str:
    """Vendors answer as external respondents (core.models.Group.survey_group)."""
    return "external" if group == "vendor" else group


def rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class UnitRow:
    unit_id: int | None
    code: str
    name: str
    group: str
    population: int = 0
    clean: int = 0
    sample: int = 0
    reached: int = 0
    responded: int = 0

    @property
    def clean_pct(self) -> float | None:
        return rate(self.clean, self.population)

    @property
    def rate(self) -> float | None:
        return rate(self.responded, self.sample)


@dataclass
class FunnelRow:
    channel: str  # whatsapp, email, or "all"
    sampled: int = 0
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    responded: int = 0


@dataclass
class GroupRow:
    group: str
    sample: int = 0
    target: int = 0
    responded: int = 0

    @property
    def rate(self) -> float | None:
        return rate(self.responded, self.target)


@dataclass
class Overview:
    funnel: list[FunnelRow]
    groups: list[GroupRow]
    daily: list[tuple[date, int, int]] = field(default_factory=list)  # day, sends, responses
    days_left: int = 0


# --- per unit -------------------------------------------------------------------------------------


def unit_rows(session: Session, campaign: Campaign) -> list[UnitRow]:
    rows: dict[tuple[int | None, str], UnitRow] = {}
    units = {u.id: u for u in session.exec(select(Unit).where(Unit.institution_id == campaign.institution_id))}

    def row(unit_id: int | None, group: str) -> UnitRow:
        key = (unit_id, survey_group(group))
        if key not in rows:
            unit = units.get(unit_id)
            rows[key] = UnitRow(unit_id, unit.code if unit else "-", unit.name if unit else "(tanpa unit)",
                                key[1])
        return rows[key]

    people = session.exec(
        select(col(Person.unit_id), col(Person.group), col(Person.status), func.count())
        .where(col(Person.institution_id) == campaign.institution_id)
        .group_by(col(Person.unit_id), col(Person.group), col(Person.status))
    )
    for unit_id, group, status, n in people:
        r = row(unit_id, group)
        r.population += n
        if status != PersonStatus.unusable:
            r.clean += n
    sampled = session.exec(
        select(col(Assignment.unit_id), col(Assignment.group), func.count(), func.count(col(Assignment.responded_at)))
        .where(col(Assignment.campaign_id) == campaign.id, col(Assignment.active).is_(True))
        .group_by(col(Assignment.unit_id), col(Assignment.group))
    )
    for unit_id, group, n, responded in sampled:
        r = row(unit_id, group)
        r.sample += n
        r.responded += responded
    reached = session.exec(
        select(col(Assignment.unit_id), col(Assignment.group), func.count(distinct(col(Outbox.assignment_id))))
        .join(Assignment, col(Assignment.id) == col(Outbox.assignment_id))
        .where(col(Outbox.campaign_id) == campaign.id, col(Outbox.status).in_(DELIVERED),
               col(Assignment.active).is_(True))
        .group_by(col(Assignment.unit_id), col(Assignment.group))
    )
    for unit_id, group, n in reached:
        row(unit_id, group).reached += n
    return sorted(rows.values(), key=lambda r: (r.rate if r.rate is not None else 101.0, r.name))



def reminder_blockers(session: Session, campaign: Campaign, closed: bool) -> dict[int | None, str]:
    """Per unit, why its "Kirim pengingat" would queue nothing (the button is shown disabled with
    this reason); a unit not listed may be reminded. One grouped pass over the campaign's active
    assignments: how many have not answered, and how many of those were sent an invitation."""
    invited = (select(col(Outbox.assignment_id))
               .where(col(Outbox.campaign_id) == campaign.id, col(Outbox.purpose) == "invitation",
                      col(Outbox.status).in_(SENT)))
    out: dict[int | None, str] = {}
    for unit_id, n, waiting, waiting_invited in session.exec(
        select(col(Assignment.unit_id), func.count(),
               func.count(case((col(Assignment.responded_at).is_(None), 1))),
               func.count(case((and_(col(Assignment.responded_at).is_(None), col(Assignment.id).in_(invited)), 1))))
        .where(col(Assignment.campaign_id) == campaign.id, col(Assignment.active).is_(True))
        .group_by(col(Assignment.unit_id))
    ):
        if closed:
            out[unit_id] = REMINDER_BLOCKED["closed"]
        elif not n:
            continue
        elif not waiting:
            out[unit_id] = REMINDER_BLOCKED["all_answered"]
        elif not waiting_invited:
            out[unit_id] = REMINDER_BLOCKED["none_sent"]
    return out

# --- overview -------------------------------------------------------------------------------------


_LEVEL = {"read": 3, "delivered": 2, "sent": 1}


def funnel(session: Session, campaign: Campaign) -> list[FunnelRow]:
    """Per channel and in total: assignments queued, sent, delivered, read, responded.

    One indexed pass over the campaign's outbox rows (a few thousand), folded in Python: the best
    status per respondent and channel, and per respondent over all channels.
    """
    sampled, responded = session.exec(
        select(func.count(), func.count(col(Assignment.responded_at)))
        .where(col(Assignment.campaign_id) == campaign.id, col(Assignment.active).is_(True))
    ).one()
    total = FunnelRow("all", sampled=sampled, responded=responded)
    best: dict[tuple[int, str], int] = {}
    answered: set[int] = set()
    for assignment_id, channel, status, has_answer in session.exec(
        select(col(Outbox.assignment_id), col(Outbox.channel), col(Outbox.status),
               col(Assignment.responded_at).is_not(None))
        .join(Assignment, and_(col(Assignment.id) == col(Outbox.assignment_id), col(Assignment.active).is_(True)))
        .where(col(Outbox.campaign_id) == campaign.id)
    ):
        assert assignment_id is not None  # inner join on Assignment.id
        level = _LEVEL.get(status, 0)
        for key in ((assignment_id, channel), (assignment_id, "all")):
            if best.get(key, -1) < level:
                best[key] = level
        if has_answer:
            answered.add(assignment_id)
    rows: dict[str, FunnelRow] = {"all": total}
    for (assignment_id, channel), level in best.items():
        row = rows.setdefault(channel, FunnelRow(channel, sampled=sampled))
        row.queued += 1
        row.sent += level >= 1
        row.delivered += level >= 2
        row.read += level >= 3
        if channel != "all":
            row.responded += assignment_id in answered
    return [total, *sorted((r for c, r in rows.items() if c != "all"), key=lambda r: r.channel)]


def group_rows(session: Session, campaign: Campaign) -> list[GroupRow]:
    targets = campaign.config.get("targets", {}) if isinstance(campaign.config, dict) else {}
    rows = {g: GroupRow(g) for g in GROUPS}
    for group, n, responded in session.exec(
        select(col(Assignment.group), func.count(), func.count(col(Assignment.responded_at)))
        .where(col(Assignment.campaign_id) == campaign.id, col(Assignment.active).is_(True))
        .group_by(col(Assignment.group))
    ):
        r = rows.setdefault(survey_group(group), GroupRow(survey_group(group)))
        r.sample += n
        r.responded += responded
    # One source for the target: the campaign's own targets, else the draw's (the sample page shows
    # the same); the active sample only before any draw. Never the active count after a draw: a
    # respondent replaced (inactive) does not lower the target.
    draw = None if targets else draw_summary(session, campaign.id, campaign.institution_id)  # type: ignore[arg-type]
    drawn = {g: s.get("target", s.get("size")) for g, s in draw.sizes.items()} if draw is not None else {}
    for r in rows.values():
        configured = targets.get(r.group, drawn.get(r.group))
        r.target = int(configured) if isinstance(configured, int | float) and configured > 0 else r.sample
    return [r for r in rows.values() if r.sample or r.target]


def daily(session: Session, campaign: Campaign, tz: str) -> list[tuple[date, int, int]]:
    """Sends and responses per local day, from the campaign's opening to today (or its close)."""
    sends: dict[date, int] = defaultdict(int)
    answers: dict[date, int] = defaultdict(int)
    for at in session.exec(
        select(Outbox.sent_at).where(col(Outbox.campaign_id) == campaign.id, col(Outbox.status).in_(SENT),
                                     col(Outbox.sent_at).is_not(None))
    ):
        sends[local(at, tz).date()] += 1  # type: ignore[arg-type]
    for at in session.exec(
        select(Assignment.responded_at).where(
            Assignment.campaign_id == campaign.id, col(Assignment.responded_at).is_not(None))
    ):
        answers[local(at, tz).date()] += 1  # type: ignore[arg-type]
    if not sends and not answers:
        return []
    assert campaign.opens_at and campaign.closes_at
    start = min([local(campaign.opens_at, tz).date(), *sends, *answers])
    end = max([min(local(utcnow(), tz).date(), local(campaign.closes_at, tz).date()), *sends, *answers])
    days: list[tuple[date, int, int]] = []
    day = start
    while day <= end and len(days) < 400:
        days.append((day, sends.get(day, 0), answers.get(day, 0)))
        day = date.fromordinal(day.toordinal() + 1)
    return days


def days_left(campaign: Campaign, now: datetime | None = None) -> int:
    assert campaign.closes_at
    seconds = (as_utc(campaign.closes_at) - (now or utcnow())).total_seconds()
    return max(0, int(-(-seconds // 86400)))


def overview(session: Session, campaign: Campaign, tz: str) -> Overview:
    return Overview(funnel(session, campaign), group_rows(session, campaign), daily(session, campaign, tz),
                    days_left(campaign))
