"""Tables owned by monitor: dashboard users, their sessions and the pre-aggregated national
snapshot."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from core.models import utc_field


class Role(StrEnum):
    admin = "admin"  # every institution, manages users
    pic = "pic"  # own institution, may act (reminders)
    viewer = "viewer"  # own institution, read-only
    agent = "agent"  # own institution's call-centre inbox only (issue 25)
    interviewer = "interviewer"  # own institution, the CAPI app only (PIN login; no dashboard page)


class User(SQLModel, table=True):
    __tablename__ = "monitor_user"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(unique=True, index=True, max_length=120)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=255)
    role: str = Field(default=Role.pic, max_length=16)
    institution_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    active: bool = True
    # Bumped on password change / disable (kept as a count of those; the sessions themselves are
    # ended in `monitor_session`).
    session_version: int = 1
    failed_logins: int = 0
    locked_until: datetime | None = utc_field()
    last_login_at: datetime | None = utc_field()
    created_at: datetime | None = utc_field()
    # TOTP second factor (admins): the base32 secret, confirmed (in use) once `totp_enabled_at`
    # is set; `totp_last_step` is the time step of the last code accepted (a code works once).
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = utc_field()
    totp_last_step: int | None = None
    # An interviewer's PIN for the shared tablet (capi), argon2id like the password; None: no PIN.
    pin_hash: str | None = Field(default=None, max_length=255)


class MonitorSession(SQLModel, table=True):
    """One dashboard login, held server-side so it can be ended: the cookie carries a random id
    whose SHA-256 is `token_hash`. Valid while not revoked, before `expires_at` (absolute) and
    while `last_seen_at` is recent enough (idle timeout)."""

    __tablename__ = "monitor_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: bytes = Field(sa_type=LargeBinary(32), unique=True, index=True)
    user_id: int = Field(foreign_key="monitor_user.id", index=True)
    created_at: datetime | None = utc_field(nullable=False)
    last_seen_at: datetime | None = utc_field(nullable=False)
    expires_at: datetime | None = utc_field(nullable=False)
    revoked_at: datetime | None = utc_field()
    ip: str | None = Field(default=None, max_length=45)  # where the login came from


class CampaignSnapshot(SQLModel, table=True):
    """Pre-aggregated figures per campaign for the national (admin) view.

    Refreshed by `monitor.snapshot.refresh_snapshots()` in one grouped pass, so the national page
    never scans 600,000 assignments and 2,000,000 outbox rows per request.
    """

    __tablename__ = "monitor_campaign_snapshot"

    campaign_id: int = Field(primary_key=True, foreign_key="campaign.id")
    institution_id: int = Field(index=True, foreign_key="institution.id")
    sampled: int = 0
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    responded: int = 0
    refreshed_at: datetime | None = utc_field()


class UnitUploadLink(SQLModel, table=True):
    """A unit's own upload link for one campaign (monitor.unit_links): only that unit's rows are
    accepted through it. The token is derived from `token_nonce` and SECRET_KEY like an
    assignment's (core.tokens) and stored only as its SHA-256; a revoked link answers 404. At
    most one live link per campaign and unit (a new one revokes the old)."""

    __tablename__ = "unit_upload_link"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    token_nonce: str = Field(max_length=32)
    token_hash: bytes = Field(sa_type=LargeBinary(32), unique=True, index=True)
    deadline: date  # the day the unit's file is due (the reminder goes out before it)
    created_by: str = Field(default="system", max_length=120)
    created_at: datetime | None = utc_field(nullable=False)
    revoked_at: datetime | None = utc_field()
    revoked_by: str | None = Field(default=None, max_length=120)
