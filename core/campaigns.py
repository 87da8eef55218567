"""The campaign lifecycle: open -> closed -> archived -> purged, and reopen.

- **closed**: automatically at `closes_at` (the scheduler's `close_due`, idempotent), or earlier
  by a PIC or admin with a reason (`close_campaign`). A closed campaign takes no answer and no
  registration, and nothing is sent for it: enqueueing refuses (`ensure_sendable`), the dispatch
  worker cancels whatever of it still waits.
- **reopened** (`reopen_campaign`): closed or archived -> open, with a reason, only before the
  purge; a campaign past its closing date needs a new one.
- **archived** (`archive_campaign`, admin): the survey is over for good; scores and reports stay.
- **purged**: after RETENTION_DAYS from its closing, `spibot purge` (integrity.purge) removes its
  population's contact data and marks it (`mark_purged`).

Here, in core, so every package (dispatch, bot, responses, qr, monitor, the scheduler) shares one
rule of what "closed" means (`has_ended`). Every transition is recorded on the campaign (who, when,
why) and in the audit log. Messages are for the PIC: Bahasa Indonesia.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from core import audit, labels
from core.clock import as_utc, format_date_id, utcnow
from core.config import get_settings
from core.errors import SpibotError
from core.models import CLOSED_STATUSES, Campaign, CampaignStatus

AUTO_CLOSE_REASON = "Tanggal tutup survei tercapai."
MAX_REASON = 300
SYSTEM = "system"


class LifecycleError(SpibotError, ValueError):
    """A transition that is not allowed now; the message (Bahasa Indonesia) says why."""


class CampaignClosed(LifecycleError):
    """Nothing may be sent for (or taken by) a campaign that has closed."""


def has_ended(campaign: Campaign, at: datetime | None = None) -> bool:
    """Closed, archived or purged, or past its closing date (even before the scheduler noticed)."""
    assert campaign.closes_at is not None
    return campaign.status in CLOSED_STATUSES or (at or utcnow()) >= as_utc(campaign.closes_at)


def closed_on(campaign: Campaign) -> datetime:
    """When the campaign (last) closed: by a person or the scheduler, else its closing date."""
    assert campaign.closes_at is not None
    return as_utc(campaign.closed_at or campaign.closes_at)


def purge_due(campaign: Campaign) -> datetime:
    """From when its contact data may (and should) be purged: RETENTION_DAYS after closing."""
    return closed_on(campaign) + timedelta(days=get_settings().retention_days)


def ensure_sendable(campaign: Campaign, at: datetime | None = None) -> None:
    """Raise CampaignClosed when the campaign has closed: nothing is enqueued for it."""
    if has_ended(campaign, at):
        raise CampaignClosed(
            f"Kampanye {campaign.id} ({campaign.name}) sudah ditutup: tidak ada pesan yang dikirim. "
            "Buka kembali dulu bila survei memang diperpanjang (spibot campaign reopen).")


def _reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise LifecycleError("Mohon tuliskan alasannya.")
    if len(text) > MAX_REASON:
        raise LifecycleError(f"Alasan terlalu panjang (paling banyak {MAX_REASON} karakter).")
    return text


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LifecycleError(f"Kampanye {campaign_id} tidak ditemukan (lihat: spibot campaign list).")
    return campaign


def _record(session: Session, actor: str, action: str, campaign: Campaign, **details: object) -> None:
    audit.record(session, actor, f"campaign.{action}", institution_id=campaign.institution_id,
                 target=f"campaign:{campaign.id}", details={k: v for k, v in details.items() if v is not None})


def close_campaign(session: Session, campaign: Campaign, *, actor: str, reason: str | None,
                   now: datetime | None = None) -> Campaign:
    """Close an open (or draft) campaign now, with a reason. Raises LifecycleError otherwise."""
    now = now or utcnow()
    text = _reason(reason)
    if campaign.status in CLOSED_STATUSES:
        raise LifecycleError(f"Kampanye {campaign.id} sudah {label(campaign.status)}.")
    campaign.status = CampaignStatus.closed
    campaign.closed_at, campaign.closed_by, campaign.closed_reason = now, actor, text
    session.add(campaign)
    _record(session, actor, "close", campaign, reason=text)
    session.flush()
    return campaign


def close_due(session: Session, now: datetime | None = None) -> list[int]:
    """The scheduler's job: close every open or draft campaign whose closing date has passed.
    Idempotent and safe to run twice at once (a conditional UPDATE per campaign). Returns the ids
    this call closed."""
    now = now or utcnow()
    due = session.exec(select(Campaign.id).where(
        col(Campaign.status).in_([CampaignStatus.open, CampaignStatus.draft]),
        col(Campaign.closes_at) <= now)).all()
    return [int(cid) for cid in due if cid is not None and _close_by_date(session, cid, now)]


def close_if_due(session: Session, campaign: Campaign, now: datetime | None = None) -> bool:
    """Close this campaign now if its closing date has passed and nobody closed it yet (what the
    scheduler would do; e.g. before a purge run where no scheduler runs). True if it closed now."""
    now = now or utcnow()
    assert campaign.id is not None and campaign.closes_at is not None
    if campaign.status in CLOSED_STATUSES or now < as_utc(campaign.closes_at):
        return False
    return _close_by_date(session, campaign.id, now)


def _close_by_date(session: Session, campaign_id: int, now: datetime) -> bool:
    """One conditional UPDATE: of two schedulers at once, one closes and records it."""
    result = session.exec(update(Campaign).where(
        col(Campaign.id) == campaign_id,
        col(Campaign.status).in_([CampaignStatus.open, CampaignStatus.draft]),
        col(Campaign.closes_at) <= now,
    ).values(status=CampaignStatus.closed, closed_at=now, closed_by=SYSTEM,
             closed_reason=AUTO_CLOSE_REASON))
    if not result.rowcount:
        return False
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    session.refresh(campaign)
    _record(session, SYSTEM, "close", campaign, reason=AUTO_CLOSE_REASON, automatic=True)
    session.flush()
    return True


def reopen_campaign(session: Session, campaign: Campaign, *, actor: str, reason: str | None,
                    closes_at: datetime | None = None, now: datetime | None = None) -> Campaign:
    """Closed or archived -> open again, with a reason; `closes_at`: a new closing date (needed
    when the old one has passed). Never after the purge: the contacts are gone."""
    now = now or utcnow()
    text = _reason(reason)
    if campaign.status == CampaignStatus.purged:
        raise LifecycleError(f"Kampanye {campaign.id} sudah dihapus data kontaknya; tidak dapat dibuka kembali.")
    if campaign.status not in (CampaignStatus.closed, CampaignStatus.archived):
        raise LifecycleError(f"Kampanye {campaign.id} tidak sedang ditutup ({label(campaign.status)}).")
    assert campaign.closes_at is not None
    new_close = as_utc(closes_at) if closes_at is not None else as_utc(campaign.closes_at)
    if new_close <= now:
        raise LifecycleError(
            f"Tanggal tutup kampanye {campaign.id} ({format_date_id(new_close)}) sudah lewat: "
            "tentukan tanggal tutup baru untuk membukanya kembali.")
    old_close = as_utc(campaign.closes_at)
    campaign.status, campaign.closes_at = CampaignStatus.open, new_close
    campaign.closed_at = campaign.closed_by = campaign.closed_reason = None
    campaign.archived_at = campaign.archived_by = None
    session.add(campaign)
    _record(session, actor, "reopen", campaign, reason=text,
            closes_at=new_close.isoformat() if new_close != old_close else None)
    session.flush()
    return campaign


def archive_campaign(session: Session, campaign: Campaign, *, actor: str,
                     now: datetime | None = None) -> Campaign:
    """Closed -> archived (an admin): the survey is over for good; scores and reports stay."""
    now = now or utcnow()
    if campaign.status != CampaignStatus.closed:
        raise LifecycleError(
            f"Hanya kampanye yang sudah ditutup yang dapat diarsipkan (kampanye {campaign.id}: "
            f"{label(campaign.status)}).")
    campaign.status, campaign.archived_at, campaign.archived_by = CampaignStatus.archived, now, actor
    session.add(campaign)
    _record(session, actor, "archive", campaign)
    session.flush()
    return campaign


def mark_purged(campaign: Campaign, now: datetime) -> None:
    """The purge (integrity.purge) is done: the last state, for good."""
    campaign.status, campaign.purged_at = CampaignStatus.purged, now


def label(status: str) -> str:
    """The status as a PIC reads it (core/data/labels.yaml), lower case for inside a sentence."""
    return labels.label("campaign_status", status).lower()


def list_campaigns(session: Session, institution_id: int | None = None) -> Sequence[Campaign]:
    query = select(Campaign).order_by(col(Campaign.institution_id), col(Campaign.opens_at), col(Campaign.id))
    if institution_id is not None:
        query = query.where(Campaign.institution_id == institution_id)
    return session.exec(query).all()
