"""The WhatsApp messaging limit: at most WHATSAPP_DAILY_LIMIT unique numbers reached with template
(business-initiated) messages in any rolling 24 hours, over both SPI senders (Meta counts the
limit per business portfolio; docs/whatsapp.md).

The ledger (`WhatsAppReach`) holds when each number last got a template. A claimed template goes
out only if its number is already counted in the window (free) or the window has room; the ledger
is written in the same transaction as the claim, under a row lock on the portfolio, so workers on
any number of machines never admit more than the limit together. A message admitted and then
refused still counts: the limit is never overrun, at worst under-used.

Messages that do not fit wait (`pending`, no attempt used) until enough of the window has aged out
for a claim's worth of them, in this order: invitations and registrations before reminders; then
the units and groups furthest from their target (lowest response share) first; then the campaign
closing earliest. Free-form replies (inside the window the respondent opened) never count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from core.clock import as_utc, format_date_id, utcnow
from core.db import insert_for
from core.models import Assignment, Campaign
from dispatch import ratelimit
from dispatch.models import Outbox, Purpose, Status, WhatsAppReach
from dispatch.outbox import Claimed, in_values

WINDOW = timedelta(hours=24)
PORTFOLIO_KEY = "wa-portfolio"  # the lock row (a rate bucket row) that serialises admissions
T = Outbox.__table__  # type: ignore[attr-defined]
R = WhatsAppReach.__table__  # type: ignore[attr-defined]
# Order among waiting messages, as seconds added to the moment the window frees (the claim takes
# the earliest first): purpose rank, then response share of the (unit, group) in 2% steps, then
# days to the campaign's close. At most ~1 h 50 min after the window frees.
PURPOSE_RANK = {"registration": 0, "invitation": 0, "reminder": 1, "last_call": 1}
RANK_STEP_SECONDS = 3600
SHARE_STEP_SECONDS = 30  # per 2% of the unit and group's response share
MAX_CLOSING_DAYS = 29


def is_template(channel: str, purpose: str) -> bool:
    """A business-initiated WhatsApp message (a template), which the messaging limit counts;
    replies are free-form bodies inside the window the respondent opened."""
    return channel == "whatsapp" and purpose != Purpose.reply


@dataclass(frozen=True)
class Admission:
    admitted: list[Claimed]
    deferred: list[tuple[Claimed, datetime]]  # each with when to try again


def admit(session: Session, items: Sequence[Claimed], *, limit: int | None,
          now: datetime | None = None) -> Admission:
    """Split claimed messages into those that may go now and those that wait for the window."""
    templates = [i for i in items if is_template(i.channel, i.purpose)]
    if not templates or not limit or limit <= 0:
        return Admission(list(items), [])
    now = now or utcnow()
    since = now - WINDOW
    ratelimit.lock(session, PORTFOLIO_KEY)
    active = int(session.execute(select(func.count()).select_from(R).where(R.c.last_at > since)).scalar_one())
    addresses = list({i.to_address for i in templates})
    counted = set(session.execute(
        select(R.c.address).where(in_values(session, R.c.address, addresses), R.c.last_at > since)).scalars())
    reached: set[str] = set()
    admitted: list[Claimed] = []
    waiting: list[Claimed] = []
    for item in sorted(items, key=lambda i: PURPOSE_RANK.get(i.purpose, 0)):
        if not is_template(item.channel, item.purpose):
            admitted.append(item)
        elif item.to_address in counted or item.to_address in reached:
            reached.add(item.to_address)
            admitted.append(item)
        elif active < limit:
            active += 1
            reached.add(item.to_address)
            admitted.append(item)
        else:
            waiting.append(item)
    _record(session, reached, now)
    if not waiting:
        return Admission(admitted, [])
    frees = window_frees_at(session, len({w.to_address for w in waiting}), limit=limit, now=now)
    offsets = _offsets(session, waiting, now)
    return Admission(admitted, [(w, frees + offsets[w.id]) for w in waiting])


def _record(session: Session, addresses: Iterable[str], now: datetime) -> None:
    rows = [{"address": a, "last_at": now} for a in addresses]
    if not rows:
        return
    ins = insert_for(session, R)
    session.execute(ins.on_conflict_do_update(index_elements=["address"], set_={"last_at": now}), rows)


def window_frees_at(session: Session, need: int, *, limit: int, now: datetime) -> datetime:
    """When `need` numbers (at most a full window) can be reached: the moment the need-th oldest
    entry of the window ages out."""
    k = max(1, min(need, limit))
    oldest = session.execute(
        select(R.c.last_at).where(R.c.last_at > now - WINDOW).order_by(R.c.last_at).offset(k - 1).limit(1)
    ).scalar_one_or_none()
    if oldest is None:
        return now + timedelta(seconds=1)
    return max(now, as_utc(oldest) + WINDOW) + timedelta(seconds=1)


def _offsets(session: Session, items: list[Claimed], now: datetime) -> dict[int, timedelta]:
    campaigns = {i.campaign_id for i in items if i.campaign_id is not None}
    closes = dict(session.execute(select(col(Campaign.id), col(Campaign.closes_at))
                                  .where(col(Campaign.id).in_(campaigns))).all()) if campaigns else {}
    assignments = {i.assignment_id for i in items if i.assignment_id is not None}
    groups = {a: (u, g) for a, u, g in session.execute(
        select(col(Assignment.id), col(Assignment.unit_id), col(Assignment.group))
        .where(col(Assignment.id).in_(assignments))).all()} if assignments else {}
    shares: dict[tuple[int | None, int | None, str], float] = {}
    if campaigns:
        for cid, unit, group, total, done in session.execute(
                select(col(Assignment.campaign_id), col(Assignment.unit_id), col(Assignment.group), func.count(),
                       func.count(col(Assignment.responded_at)))
                .where(col(Assignment.campaign_id).in_(campaigns), col(Assignment.active).is_(True))
                .group_by(col(Assignment.campaign_id), col(Assignment.unit_id), col(Assignment.group))).all():
            shares[(cid, unit, group)] = done / total if total else 0.0
    out = {}
    for item in items:
        unit, group = groups.get(item.assignment_id, (None, ""))
        share = shares.get((item.campaign_id, unit, group), 0.0)
        closing = closes.get(item.campaign_id)
        days = (as_utc(closing) - now).days if closing else MAX_CLOSING_DAYS
        seconds = (PURPOSE_RANK.get(item.purpose, 0) * RANK_STEP_SECONDS + int(share * 50) * SHARE_STEP_SECONDS
                   + min(max(days, 0), MAX_CLOSING_DAYS))
        out[item.id] = timedelta(seconds=seconds)
    return out


def defer_rows(session: Session, deferred: list[tuple[Claimed, datetime]], *, note: str) -> None:
    """Claimed rows that may not go yet: back to pending at their time, no attempt counted (a
    claim counts none: `attempts` counts requests that left, dispatch.outbox)."""
    if not deferred:
        return
    now = utcnow()
    for item, at in deferred:
        session.execute(
            update(T).where(T.c.id == item.id, T.c.attempt_id == item.attempt_id, T.c.status == Status.sending)
            .values(status=Status.pending, next_attempt_at=at, lease_until=None,
                    error_class="deferred", error_message=note[:300],
                    updated_at=now))


# --- the plan: when will the last waiting message go? ----------------------------------------------

@dataclass(frozen=True)
class Plan:
    limit: int | None  # None or 0: unlimited
    waiting: int  # unique numbers still to be reached with a template (pending rows)
    in_window: int  # numbers counted in the current 24-hour window
    finish_at: datetime | None  # when the last of them is expected to go (None: nothing waits)
    days: int  # calendar days the rest will take (1 = all today)


def plan(session: Session, *, limit: int | None, campaign_id: int | None = None,
         extra: int = 0, now: datetime | None = None) -> Plan:
    """Project when the waiting template messages go out under the limit.

    The limit is shared by every campaign on the same numbers, so the queue ahead of a campaign's
    last message is every pending template of the portfolio: the date is when the whole queue is
    through (an upper bound for a campaign whose rows go first). With `campaign_id`, a campaign
    with nothing waiting gets an empty plan. `extra`: numbers about to be added (a wave's preview,
    before it is enqueued). Quiet hours are not modelled: show it as "± a day"."""
    now = now or utcnow()
    since = now - WINDOW
    waiting = (T.c.status.in_([Status.pending, Status.sending]) & (T.c.channel == "whatsapp")
               & (T.c.purpose != Purpose.reply))
    in_window = int(session.execute(select(func.count()).select_from(R).where(R.c.last_at > since)).scalar_one())
    if campaign_id is not None and not extra and not has_waiting(session, campaign_id):
        return Plan(limit, 0, in_window, None, 0)
    counted = select(R.c.address).where(R.c.address == T.c.to_address, R.c.last_at > since).exists()
    todo = int(session.execute(select(func.count(T.c.to_address.distinct())).where(waiting, ~counted)).scalar_one())
    todo += extra
    if not todo:
        return Plan(limit, 0, in_window, None, 0)
    if not limit or limit <= 0:
        return Plan(limit, todo, in_window, now, 1)
    ages = [as_utc(t) for t in session.execute(
        select(R.c.last_at).where(R.c.last_at > since).order_by(R.c.last_at).limit(limit)).scalars()]
    # The window's slots: free now, or when an entry ages out; each slot is used once a day.
    slots = [now] * (limit - len(ages)) + [max(now, t + WINDOW) for t in ages]
    last = todo - 1
    at = slots[last % limit] + WINDOW * (last // limit)
    return Plan(limit, todo, in_window, at, (at.date() - now.date()).days + 1)


def has_waiting(session: Session, campaign_id: int) -> bool:
    """Whether the campaign has a template WhatsApp message still waiting (one indexed probe)."""
    waiting = (T.c.status.in_([Status.pending, Status.sending]) & (T.c.channel == "whatsapp")
               & (T.c.purpose != Purpose.reply))
    return session.execute(select(T.c.id).where(waiting, T.c.campaign_id == campaign_id).limit(1)).first() is not None


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def describe(p: Plan, tz: str = "Asia/Jakarta") -> str:
    """The plan in one Indonesian line for the PIC."""
    if p.finish_at is None:
        return "Tidak ada undangan WhatsApp yang menunggu."
    if not p.limit:
        return f"{_n(p.waiting)} nomor menunggu; tanpa batas harian WhatsApp, terkirim hari ini."
    return (f"Undangan terakhir terkirim ± {format_date_id(p.finish_at, tz)} ({_n(p.waiting)} nomor "
            f"menunggu; batas WhatsApp {_n(p.limit)} nomor per 24 jam, {p.days} hari).")


__all__ = ["Admission", "Plan", "admit", "defer_rows", "describe", "has_waiting", "is_template", "plan",
           "window_frees_at"]
