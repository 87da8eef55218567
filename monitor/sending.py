"""Sending as the PIC sees it: the "Pengiriman" panel of a campaign and the banner shown on every
dashboard page while something stops bulk sending.

Everything is read from dispatch (holds, the messaging-limit plan, the wave preview) and said in
plain Indonesian from data/holds.yaml; a hold's English reason is a detail for admins only. The
actions (pause, resume, cancel) are in monitor/sending_routes.py and call dispatch.holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from core.campaigns import has_ended
from core.clock import format_datetime_id
from core.config import get_settings
from core.datafiles import read_yaml
from core.models import Campaign, Institution
from dispatch import (
    Hold,
    HoldScope,
    Lane,
    Outbox,
    Status,
    WavePreview,
    format_cost_id,
    holds,
    limits,
    wave_preview,
)

HOLDS_FILE = Path(__file__).parent / "data" / "holds.yaml"
MANUAL = "manual"  # the code of a hold a person set
MANUAL_REASON = "paused by a person in the dashboard"
OUTBOX = Outbox.__table__  # type: ignore[attr-defined]


@lru_cache
def _texts() -> dict[str, dict[str, str]]:
    data = read_yaml(HOLDS_FILE) or {}
    return {k: {str(a): str(b) for a, b in v.items()} for k, v in data.items()}


def _pick(section: str, key: str | None) -> str:
    texts = _texts()[section]
    return texts.get(str(key or ""), texts.get("default", ""))


def purpose_label(purpose: str) -> str:
    return _texts()["purposes"].get(purpose, purpose)


@dataclass(frozen=True)
class Stop:
    """One thing that stops bulk sending, as the banner and the panel say it."""

    scope: str  # HoldScope
    target: str
    text: str  # plain Indonesian, for everyone
    detail: str  # the provider code and English reason: shown to admins only
    campaign_id: int | None = None  # campaign and wave holds

    @property
    def admin_resumes(self) -> bool:
        """Sender and template holds are lifted by an admin (the cause is our configuration)."""
        return self.scope in (HoldScope.sender, HoldScope.template)


def _since(at: datetime | None, tz: str) -> str:
    return format_datetime_id(at, tz) if at is not None else "-"


def _who(actor: str) -> str:
    return "sistem" if actor.split(":")[0] == "system" else actor


def _stop(hold: Hold, campaigns: Mapping[int, tuple[Campaign, Institution]], name_institution: bool) -> Stop | None:
    detail = f"{hold.code or '-'}: {hold.reason}"
    if hold.scope == HoldScope.sender:
        text = (f"Pengiriman WhatsApp massal dihentikan sementara: {_pick('sender', hold.code)}; "
                "tidak ada pesan yang hilang. Admin telah diberi tahu.")
        return Stop(hold.scope, hold.target, text, detail)
    if hold.scope == HoldScope.template:
        name = _texts()["template_names"].get(hold.target, hold.target)
        text = (f"Pesan WhatsApp dengan templat {name} ditahan: templat {_pick('template', hold.code)}; "
                "pesan tetap menunggu, tidak ada yang hilang. Admin telah diberi tahu.")
        return Stop(hold.scope, hold.target, text, detail)
    wave = hold.target.partition(":")[2]
    found = campaigns.get(_campaign_of(hold) or 0)
    if found is None:
        return None  # a campaign the user may not see (or one deleted since)
    campaign, inst = found
    what = f"kampanye {campaign.name}" + (f" ({inst.name})" if name_institution else "")
    if wave:
        what = f"gelombang {wave} {what}"
    text = (f"Pengiriman {what} dijeda oleh {_who(hold.actor)} sejak {_since(hold.since, inst.timezone)}; "
            "pesan yang menunggu tetap tersimpan, tidak ada yang hilang.")
    return Stop(hold.scope, hold.target, text, detail, campaign_id=campaign.id)


def _campaign_of(hold: Hold) -> int | None:
    """The campaign id of a campaign or wave hold ("12", "12:2"); None otherwise."""
    head = hold.target.partition(":")[0]
    if hold.scope in (HoldScope.campaign, HoldScope.wave) and head.isdigit():
        return int(head)
    return None


def stops(session: Session, *, institution_id: int | None, every_institution: bool = False,
          campaign_id: int | None = None) -> list[Stop]:
    """What stops sending: every sender and template hold (they stop every campaign), and the
    paused campaigns and waves of `institution_id` (of every institution for an admin's banner,
    named with their institution). With `campaign_id`, only that campaign's pauses (the panel)."""
    listed = holds.listed(session)
    ids = {c for h in listed if (c := _campaign_of(h)) is not None}
    if campaign_id is not None:
        ids &= {campaign_id}
    query = (select(Campaign, Institution).join(Institution, col(Institution.id) == col(Campaign.institution_id))
             .where(col(Campaign.id).in_(sorted(ids))))
    if not every_institution:
        query = query.where(col(Campaign.institution_id) == institution_id)
    campaigns = {c.id: (c, i) for c, i in session.execute(query)} if ids else {}
    name_institution = every_institution and campaign_id is None
    found = (_stop(h, campaigns, name_institution) for h in listed)
    return [s for s in found if s is not None]


# --- the panel ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    title: str
    whatsapp: int
    email: int
    no_channel: int
    cost: str


@dataclass(frozen=True)
class WaveRow:
    number: int
    purposes: str
    waiting: int  # pending bulk messages (what pausing holds and cancelling cancels)
    paused: bool


@dataclass(frozen=True)
class Panel:
    plan: str
    preview: Preview | None
    stops: list[Stop]
    paused: bool  # the whole campaign
    waves: list[WaveRow]
    waiting: int


# The plan is the whole portfolio's queue (every campaign shares the numbers' messaging limit): one
# projection serves every campaign's panel and live refresh for PLAN_SECONDS, instead of a count
# of distinct waiting numbers over the whole outbox per page view (~0.3 s at national scale).
PLAN_SECONDS = 30.0
_plans: dict[tuple[str, int | None, int | None], tuple[float, limits.Plan]] = {}
_plans_lock = threading.Lock()


def clear_plan_cache() -> None:
    with _plans_lock:
        _plans.clear()


def _portfolio_plan(session: Session, limit: int | None) -> limits.Plan:
    # Keyed also by the newest outbox id (the primary key's maximum, one index probe): anything
    # enqueued shows at once; what workers send meanwhile shows within PLAN_SECONDS.
    bind = session.get_bind()
    newest = session.execute(select(func.max(OUTBOX.c.id))).scalar_one()
    key = (str(bind.engine.url), limit, newest)
    with _plans_lock:
        found = _plans.get(key)
    if found is not None and time.monotonic() - found[0] < PLAN_SECONDS:
        return found[1]
    fresh = limits.plan(session, limit=limit)
    with _plans_lock:
        if len(_plans) > 64:  # old keys (earlier newest ids) are never asked for again
            _plans.clear()
        _plans[key] = (time.monotonic(), fresh)
    return fresh


def plan_line(session: Session, campaign: Campaign, tz: str) -> str:
    """When the campaign's last waiting WhatsApp invitation is expected to go (one line): nothing
    when the campaign has nothing waiting, else when the portfolio's queue is through."""
    limit = get_settings().whatsapp_daily_limit
    assert campaign.id is not None
    if not limits.has_waiting(session, campaign.id):
        return limits.describe(limits.Plan(limit, 0, 0, None, 0), tz)
    return limits.describe(_portfolio_plan(session, limit), tz)


def next_wave(session: Session, campaign: Campaign) -> Preview | None:
    """What the next wave would send now: the invitations until they are enqueued, then the
    reminders that are due. None for a closed campaign."""
    assert campaign.id is not None and campaign.closes_at is not None
    if has_ended(campaign):
        return None
    found: WavePreview = wave_preview(session, campaign.id, "invitation")
    title = "undangan"
    if not found.messages and found.already_enqueued:
        found, title = wave_preview(session, campaign.id, "reminder"), "pengingat (yang sudah jatuh tempo)"
    return Preview(title, found.whatsapp, found.email, found.no_channel, format_cost_id(found.cost))


def waves(session: Session, campaign_id: int, paused: set[int]) -> list[WaveRow]:
    """The campaign's bulk waves in the outbox (wave 1: invitations and first reminders) and how
    many of their messages still wait."""
    waiting = func.sum(case((OUTBOX.c.status == Status.pending, 1), else_=0))
    rows = session.execute(
        select(OUTBOX.c.wave, OUTBOX.c.purpose, waiting)
        .where(OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.lane == Lane.bulk)
        .group_by(OUTBOX.c.wave, OUTBOX.c.purpose)).all()
    purposes: dict[int, list[str]] = {}
    counts: dict[int, int] = {}
    for number, purpose, n in rows:
        purposes.setdefault(number, []).append(purpose_label(purpose))
        counts[number] = counts.get(number, 0) + int(n or 0)
    for number in paused:
        purposes.setdefault(number, [])
    return [WaveRow(n, ", ".join(sorted(purposes[n])) or "-", counts.get(n, 0), n in paused)
            for n in sorted(purposes)]


def panel(session: Session, campaign: Campaign, inst: Institution) -> Panel:
    assert campaign.id is not None
    held = holds.current(session)
    paused_waves = {w for c, w in held.waves if c == campaign.id}
    rows = waves(session, campaign.id, paused_waves)
    shown = stops(session, institution_id=inst.id, campaign_id=campaign.id)
    return Panel(plan=plan_line(session, campaign, inst.timezone), preview=next_wave(session, campaign),
                 stops=shown, paused=campaign.id in held.campaigns, waves=rows,
                 waiting=sum(w.waiting for w in rows))


# --- what the PIC is told after an action ---------------------------------------------------------


def flash(params: Mapping[str, str]) -> str | None:
    """The message after a pause/resume/cancel redirect (query `ok`, `w` wave, `n` count)."""
    ok, wave = params.get("ok"), params.get("w", "")
    what = f"Gelombang {wave}" if wave.isdigit() else "Pengiriman kampanye"
    if ok == "jeda":
        return f"{what} dijeda. Pesan yang menunggu tetap tersimpan; tekan Lanjutkan untuk melanjutkan."
    if ok == "lanjut":
        return f"{what} dilanjutkan; setiap pesan tetap dikirim satu kali."
    if ok == "batal":
        n = params.get("n", "0")
        return f"{n if n.isdigit() else 0} pesan yang menunggu dibatalkan dan tidak akan dikirim."
    return None
