"""Tables owned by dispatch: the outbox (the truth about sending), waves, rate-limit buckets,
delivery events (status callbacks) and addresses found permanently unreachable."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import Column, Float, Index
from sqlmodel import Field, SQLModel

from core.models import json_field, not_personal, personal, utc_field


class Lane(IntEnum):
    """Replies go ahead of bulk: a lower lane is claimed first."""

    reply = 0
    bulk = 1


class Status(StrEnum):
    pending = "pending"
    sending = "sending"  # claimed: attempt_id + lease_until; committed before calling the provider
    sent = "sent"  # accepted by the provider (provider_id)
    delivered = "delivered"
    read = "read"
    failed = "failed"
    unknown = "unknown"  # could not be resolved (e.g. SMTP after a crash): never resent blindly


# How far along a message is; a status update never moves a row to a lower rank.
STATUS_RANK: dict[str, int] = {
    Status.pending: 0,
    Status.sending: 1,
    Status.unknown: 2,
    Status.sent: 3,
    Status.failed: 4,
    Status.delivered: 5,
    Status.read: 6,
}
FINAL = {Status.delivered, Status.read, Status.failed}


class Purpose(StrEnum):
    invitation = "invitation"
    reminder = "reminder"
    last_call = "last_call"
    registration = "registration"
    reply = "reply"
    alert = "alert"  # an email to the admins (a sender held, the quality guard tripped)


BULK_PURPOSES = (Purpose.invitation, Purpose.reminder, Purpose.last_call)


class Outbox(SQLModel, table=True):
    """One message to one address, guarded by a UNIQUE key per assignment/channel/purpose/wave."""

    __table_args__ = (
        Index("ix_outbox_claim", "status", "lane", "next_attempt_at"),
        Index("ix_outbox_campaign_status", "campaign_id", "status"),
        Index("ix_outbox_assignment", "assignment_id", "purpose"),
        Index("ix_outbox_to", "to_address", "channel"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    lane: int = Field(default=Lane.bulk)
    channel: str = Field(max_length=16)  # whatsapp | email
    purpose: str = Field(max_length=20)  # Purpose
    wave: int = 1
    # E.164 phone (no "whatsapp:" prefix) or email
    to_address: str = Field(max_length=254, sa_column_kwargs={"info": personal()})
    sender: str = Field(default="", max_length=254)
    tz: str = Field(default="Asia/Jakarta", max_length=40)  # respondent's zone for quiet hours
    # template name + variables (+ the assignment's token nonce), or a free-form body for replies
    payload: dict[str, Any] = json_field(dict, info=personal())
    status: str = Field(default=Status.pending, max_length=12)
    attempt_id: str | None = Field(default=None, max_length=32)
    lease_until: datetime | None = utc_field()
    claimed_at: datetime | None = utc_field()
    attempts: int = 0
    next_attempt_at: datetime | None = utc_field(nullable=False)
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    backend: str | None = Field(default=None, max_length=16)  # sandbox | twilio | smtp
    error_code: str | None = Field(default=None, max_length=20)
    error_class: str | None = Field(default=None, max_length=20)
    error_message: str | None = Field(default=None, max_length=300, sa_column_kwargs={"info": personal()})
    fallback_of: int | None = None  # the outbox row this one replaces on another channel
    campaign_id: int | None = Field(default=None)
    assignment_id: int | None = Field(default=None)
    unit_id: int | None = Field(default=None, index=True)
    institution_id: int | None = Field(default=None, index=True)
    created_at: datetime | None = utc_field(nullable=False)
    updated_at: datetime | None = utc_field()
    sent_at: datetime | None = utc_field()
    delivered_at: datetime | None = utc_field()


class Wave(SQLModel, table=True):
    """A wave the scheduler or a PIC started (its key makes the scheduler job idempotent)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=120, unique=True)
    campaign_id: int = Field(index=True)
    purpose: str = Field(max_length=20)
    unit_id: int | None = None
    actor: str = Field(default="system", max_length=120)
    enqueued: int = 0
    created_at: datetime | None = utc_field(nullable=False)


class RateBucket(SQLModel, table=True):
    """Shared send schedule of one sender (or SMTP server): slots are reserved in the database so
    every worker on every machine shares one rate. `factor` drops on 429 and recovers."""

    __tablename__ = "dispatch_rate_bucket"
    key: str = Field(primary_key=True, max_length=254)
    next_at: float = Field(default=0.0, sa_column=Column(Float, nullable=False))  # epoch seconds
    factor: float = Field(default=1.0, sa_column=Column(Float, nullable=False))
    penalised_at: float = Field(default=0.0, sa_column=Column(Float, nullable=False))


class DeliveryEvent(SQLModel, table=True):
    """Every status callback, kept once per (MessageSid, status) since Twilio retries webhooks."""

    __tablename__ = "dispatch_delivery_event"
    __table_args__ = (Index("ux_delivery_event", "provider_id", "status", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64)
    status: str = Field(max_length=20)
    error_code: str | None = Field(default=None, max_length=20)
    applied: bool = False
    received_at: datetime | None = utc_field(nullable=False)


class Unreachable(SQLModel, table=True):
    """An address a provider told us is permanently unreachable on a channel (e.g. 63024: not on
    WhatsApp). No further message goes there; the respondent falls back to the other channel."""

    __tablename__ = "dispatch_unreachable"
    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(max_length=254, unique=True, sa_column_kwargs={"info": personal()})
    channel: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=20)
    at: datetime | None = utc_field(nullable=False)


class WhatsAppReach(SQLModel, table=True):
    """The messaging-limit ledger: when each number last got a business-initiated (template)
    WhatsApp message. Meta counts unique users reached with templates in any rolling 24 h per
    business portfolio (both SPI senders together); a number with `last_at` in the last 24 h is
    already counted, so another template to it is free. Written when a template is claimed (a
    reservation: a send that then fails still counts, so the limit is never overrun)."""

    __tablename__ = "dispatch_wa_reach"
    address: str = Field(primary_key=True, max_length=254, sa_column_kwargs={"info": personal()})
    last_at: datetime | None = utc_field(nullable=False, index=True)


class HoldScope(StrEnum):
    sender = "sender"  # a WhatsApp sender's bulk lane (configuration problem or quality guard)
    campaign = "campaign"  # a whole campaign, paused by a person
    wave = "wave"  # one wave of a campaign ("<campaign id>:<wave number>"), paused by a person
    template = "template"  # a WhatsApp template not (or no longer) approved: "invitation" ...
    assignment = "assignment"  # one respondent paused (a case for the PIC): no invitation/reminder


class Hold(SQLModel, table=True):
    """Bulk sending stopped for a sender, a campaign or a wave. Held rows stay `pending` (nothing
    is failed); deleting the hold (resume) lets them go, each once: the outbox key guarantees it."""

    __tablename__ = "dispatch_hold"
    __table_args__ = (Index("ux_dispatch_hold", "scope", "target", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=12)  # HoldScope
    target: str = Field(max_length=254)
    # why: a neutral reason (errors.Row.reason), "quality", "preflight" or "manual"
    code: str | None = Field(default=None, max_length=20)
    reason: str = Field(default="", max_length=300)  # English, for admins and logs
    actor: str = Field(default="system", max_length=120)
    since: datetime | None = utc_field(nullable=False)


class TemplateApproval(SQLModel, table=True):
    """WhatsApp approval of one Content API template, as last read from Twilio."""

    __tablename__ = "dispatch_template"
    name: str = Field(primary_key=True, max_length=40,  # invitation | reminder | registration
                      sa_column_kwargs={"info": not_personal("a WhatsApp template's name")})
    content_sid: str = Field(max_length=34)
    category: str | None = Field(default=None, max_length=20)  # UTILITY | MARKETING | AUTHENTICATION
    status: str = Field(default="unsubmitted", max_length=20)  # received|pending|approved|rejected|paused|disabled
    rejection_reason: str | None = Field(default=None, max_length=300)
    checked_at: datetime | None = utc_field()


class WorkerHeartbeat(SQLModel, table=True):
    """Each dispatch worker's last sign of life (written every HEARTBEAT_SECONDS from its loop):
    the silent-worker alert and the /metrics figure `spibot_worker_last_seen_seconds`."""

    __tablename__ = "dispatch_worker_heartbeat"
    worker: str = Field(primary_key=True, max_length=120)  # host:pid
    started_at: datetime | None = utc_field(nullable=False)
    seen_at: datetime | None = utc_field(nullable=False)
    sent: int = 0  # messages this worker recorded as sent since it started


class OpsIncident(SQLModel, table=True):
    """An operational alert that is open (dispatch.alerts.check_ops): emailed once when it opens,
    deleted when its condition clears, so the next occurrence alerts again."""

    __tablename__ = "dispatch_ops_incident"
    key: str = Field(primary_key=True, max_length=200)  # e.g. "worker_silent", "hold:sender:whatsapp:+62..."
    detail: str = Field(default="", max_length=300)  # English, for admins and logs
    opened_at: datetime | None = utc_field(nullable=False)
