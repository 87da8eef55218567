"""Units' own upload links and the reminder before their data deadline.

A PIC may give a unit (OPD) its own link, `/unggah/<token>`, for one campaign: through it the
unit sees the same preview → Simpan steps as the PIC's "Kumpulkan data" page (`monitor.intake`),
but only files whose every row names that unit are accepted (`only_unit`). The token is derived
from a random nonce and SECRET_KEY as an assignment's is (`core.tokens`, with its own prefix so
the two can never coincide) and stored only as its SHA-256, so the PIC's page can show the link
again while a leaked database cannot. A new link for the same unit and campaign revokes the old
one; a revoked link (or one of a campaign that has ended) answers 404.

A unit with a contact email and a live link whose file has not arrived gets one reminder email
`remind_days_before` days (monitor/data/unit_links.yaml) before the link's deadline, through
the outbox (`dispatch.enqueue_notice`): its key names campaign, unit and deadline, so the
scheduler job may run every few minutes and a unit gets one reminder per deadline (a deadline
moved later may earn one more).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from core.campaigns import has_ended
from core.clock import format_date_id, local, utcnow
from core.config import get_settings
from core.datafiles import read_yaml
from core.db import session_scope
from core.models import Campaign, Institution, Unit
from core.templating import get_env, render
from core.tokens import hash_token, new_nonce, token_for
from dispatch import enqueue_notice
from monitor.models import UnitUploadLink
from population import unit_arrivals

SETTINGS = Path(__file__).parent / "data" / "unit_links.yaml"
_PREFIX = "unit-upload:"  # domain separation from the assignments' tokens
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@lru_cache(maxsize=1)
def _settings() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(SETTINGS)
    return data


def link_token(link: UnitUploadLink) -> str:
    return token_for(_PREFIX + link.token_nonce)


def upload_url(token: str) -> str:
    """The unit's link, always built from PUBLIC_BASE_URL (never the Host header)."""
    return f"{get_settings().public_base_url.rstrip('/')}/unggah/{token}"


def live_links(session: Session, campaign_id: int) -> dict[int, UnitUploadLink]:
    """The campaign's live (not revoked) link per unit id."""
    rows = session.exec(select(UnitUploadLink).where(col(UnitUploadLink.campaign_id) == campaign_id,
                                                     col(UnitUploadLink.revoked_at).is_(None)))
    return {link.unit_id: link for link in rows}


def revoke(session: Session, campaign_id: int, unit_id: int, actor: str) -> int:
    """End the unit's live link of this campaign; returns links ended (0: there was none)."""
    result = session.exec(update(UnitUploadLink)
                          .where(col(UnitUploadLink.campaign_id) == campaign_id,
                                 col(UnitUploadLink.unit_id) == unit_id, col(UnitUploadLink.revoked_at).is_(None))
                          .values(revoked_at=utcnow(), revoked_by=actor[:120]))
    return int(result.rowcount)


def issue(session: Session, campaign_id: int, unit_id: int, deadline: date, actor: str) -> tuple[UnitUploadLink, str]:
    """A new link for the unit (the old one, if any, stops working); returns it and its token."""
    revoke(session, campaign_id, unit_id, actor)
    nonce = new_nonce()
    link = UnitUploadLink(campaign_id=campaign_id, unit_id=unit_id, token_nonce=nonce,
                          token_hash=hash_token(token_for(_PREFIX + nonce)), deadline=deadline,
                          created_by=actor[:120], created_at=utcnow())
    session.add(link)
    session.flush()
    return link, token_for(_PREFIX + nonce)


@dataclass(frozen=True)
class Opened:
    link: UnitUploadLink
    campaign: Campaign
    unit: Unit
    institution: Institution


def open_link(session: Session, token: str) -> Opened | None:
    """The live link of `token` with its campaign, unit and institution; None for an unknown or
    revoked token, or a campaign that has ended."""
    if not _TOKEN.match(token or ""):
        return None
    link = session.exec(select(UnitUploadLink).where(col(UnitUploadLink.token_hash) == hash_token(token))).first()
    if link is None or link.revoked_at is not None:
        return None
    campaign = session.get(Campaign, link.campaign_id)
    unit = session.get(Unit, link.unit_id)
    if campaign is None or unit is None or has_ended(campaign):
        return None
    institution = session.get(Institution, unit.institution_id)
    if institution is None or campaign.institution_id != institution.id:
        return None
    return Opened(link, campaign, unit, institution)


def clean_email(raw: str) -> str | None:
    """The address as stored (trimmed, lower case), "" for none, None if it is not an address."""
    value = raw.strip().lower()
    if not value:
        return ""
    return value if len(value) <= 254 and EMAIL.match(value) else None


# --- the reminder ------------------------------------------------------------------------------------


def reminder_key(link: UnitUploadLink) -> str:
    return f"unit-upload-reminder:c{link.campaign_id}:u{link.unit_id}:{link.deadline.isoformat()}"


def remind_due(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Enqueue the reminder of every unit that is due one (see the module docstring); returns
    {"due": units whose reminder window is open, "enqueued": emails newly enqueued}."""
    now = now or utcnow()
    days = int(_settings()["remind_days_before"])
    due = enqueued = 0
    links = session.exec(select(UnitUploadLink).where(col(UnitUploadLink.revoked_at).is_(None))).all()
    arrivals: dict[int, dict[int | None, Any]] = {}
    for link in links:
        campaign, unit = session.get(Campaign, link.campaign_id), session.get(Unit, link.unit_id)
        if campaign is None or unit is None or not unit.contact_email or has_ended(campaign, now):
            continue
        inst = session.get(Institution, unit.institution_id)
        assert inst is not None and inst.id is not None
        today = local(now, inst.timezone).date()
        if not link.deadline - timedelta(days=days) <= today <= link.deadline:
            continue
        if inst.id not in arrivals:
            arrivals[inst.id] = dict(unit_arrivals(session, inst.id))
        arrival = arrivals[inst.id].get(unit.id)
        if arrival is not None and arrival.rows:  # the unit's file has arrived
            continue
        due += 1
        context = {"unit": unit.name, "institution": inst.name, "deadline": format_date_id(link.deadline),
                   "link": upload_url(link_token(link))}
        subject = get_env().from_string(str(_settings()["subject"])).render(**context)
        enqueued += enqueue_notice(session, key=reminder_key(link), to=unit.contact_email, subject=subject,
                                   text=render("email/unit_upload_reminder.txt", **context),
                                   institution_id=inst.id, now=now)
    return {"due": due, "enqueued": enqueued}


def run_reminders() -> dict[str, int]:
    """The scheduler's job: one transaction (idempotent by the outbox keys)."""
    with session_scope(write=True) as session:
        return remind_due(session)


@dataclass(frozen=True)
class LinkRow:
    """One unit on the PIC's page: its contact email and live link (if any)."""

    unit_id: int
    name: str
    email: str | None
    url: str | None
    deadline: date | None


def link_rows(session: Session, campaign_id: int, institution_id: int) -> list[LinkRow]:
    links = live_links(session, campaign_id)
    units = session.exec(select(Unit).where(col(Unit.institution_id) == institution_id).order_by(col(Unit.name)))
    rows = []
    for unit in units:
        assert unit.id is not None
        link = links.get(unit.id)
        rows.append(LinkRow(unit.id, unit.name, unit.contact_email, upload_url(link_token(link)) if link else None,
                            link.deadline if link else None))
    return rows
