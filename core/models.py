"""The shared models every package builds on.

Package-specific tables live in their package (`dispatch/models.py`, `bot/models.py`, ...).
Times are aware UTC (`UTCDateTime`); dates without time (start at unit, service date) are `date`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import as_utc, utcnow
from core.db import UTCDateTime


def utc_field(nullable: bool = True, index: bool = False, **kw: Any) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index), **kw)


def json_field(default_factory: Any = dict, info: dict[str, Any] | None = None) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False, info=info or {}))


# The personal-data census (integrity.purge, tests/integrity/test_personal_data_census.py): every
# column that can hold a name, number, email or free text of a person says so on Column.info;
# one named like a contact that cannot says so too. The purge covers every personal column.
def personal() -> dict[str, Any]:
    """Column.info of a column that can hold a person's name, number, email or free text."""
    return {"personal": True}


def not_personal(why: str) -> dict[str, Any]:
    """Column.info of a column named like contact data that holds none (`why`: what it holds)."""
    return {"personal": False, "why": why}


class CampaignStatus(StrEnum):
    """draft -> open -> closed (by date or by a person) -> archived -> purged (core.campaigns)."""

    draft = "draft"
    open = "open"
    closed = "closed"
    archived = "archived"
    purged = "purged"


# A campaign in one of these takes no answer, no registration and sends nothing.
CLOSED_STATUSES = frozenset({CampaignStatus.closed, CampaignStatus.archived, CampaignStatus.purged})


class Group(StrEnum):
    """Respondent groups, one per KPK population form (population/data/headers.yaml). Vendors are
    external respondents from the PBJ form."""

    internal = "internal"
    external = "external"
    vendor = "vendor"
    expert = "expert"

    @property
    def survey_group(self) -> str:
        """The questionnaire/sub-index a group belongs to: vendors answer as external."""
        return "external" if self is Group.vendor else self.value


class PersonStatus(StrEnum):
    eligible = "eligible"
    excluded = "excluded"
    unusable = "unusable"


class AssignmentKind(StrEnum):
    sampled = "sampled"
    reserve = "reserve"
    participatory = "participatory"
    expert = "expert"


class Institution(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=40)
    name: str = Field(max_length=200, sa_column_kwargs={"info": not_personal("the institution's name")})
    kind: str = Field(default="kabupaten", max_length=40)  # kabupaten, kota, provinsi, kementerian...
    timezone: str = Field(default="Asia/Jakarta", max_length=40)  # WIB/WITA/WIT as IANA zone
    registration_enabled: bool = True
    created_at: datetime | None = utc_field()


class Unit(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("institution_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    code: str = Field(max_length=60)
    name: str = Field(max_length=200, sa_column_kwargs={"info": not_personal("the unit's name")})
    serves_public: bool = True
    services: list[str] = json_field(list)  # services offered at the counters (for registration)
    counters: list[str] = json_field(list)  # loket codes
    avg_monthly_users: int | None = None
    # The unit's office address for deadline reminders (monitor.unit_links), set by the PIC.
    contact_email: str | None = Field(default=None, max_length=254, sa_column_kwargs={
        "info": not_personal("a unit's office address given by the PIC, not a respondent's")})


class Person(SQLModel, table=True):
    """One row of a population list, cleaned, with its eligibility verdict."""

    __table_args__ = (
        Index("ix_person_inst_group_status", "institution_id", "group", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # No single-column index: ix_person_inst_group_status leads with it (fewer indexes, faster import).
    # institution_id and unit_id: foreign keys on SQLite, checked per statement by triggers on
    # PostgreSQL (migration 0003, core.references).
    institution_id: int = Field(foreign_key="institution.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    group: str = Field(max_length=16)  # Group
    name: str = Field(default="", max_length=200, sa_column_kwargs={"info": personal()})
    # E.164, WhatsApp-capable mobile
    phone: str | None = Field(default=None, index=True, max_length=20, sa_column_kwargs={"info": personal()})
    email: str | None = Field(default=None, index=True, max_length=254, sa_column_kwargs={"info": personal()})
    position: str | None = Field(default=None, max_length=200, sa_column_kwargs={"info": personal()})  # jabatan
    start_date: date | None = None  # start at unit (internal)
    # external: the service used (with the date, it can single a visitor out)
    service_name: str | None = Field(default=None, max_length=200, sa_column_kwargs={"info": personal()})
    service_date: date | None = None  # external / vendor procurement date
    # vendor company
    organisation: str | None = Field(default=None, max_length=200, sa_column_kwargs={"info": personal()})
    criterion: str | None = Field(default=None, max_length=200)  # expert criterion
    non_asn: bool = False
    status: str = Field(default=PersonStatus.eligible, max_length=16)
    reason: str | None = Field(default=None, max_length=40)
    flags: list[str] = json_field(list)
    source: str = Field(default="import", max_length=20)  # import, registration, guestbook, demo
    source_file: str | None = Field(default=None, max_length=255, sa_column_kwargs={
        "info": not_personal("the uploaded form's file name (a unit's list, not a person)")})
    source_sheet: str | None = Field(default=None, max_length=100)
    source_row: int | None = None
    import_batch_id: int | None = Field(default=None, index=True)
    created_at: datetime | None = utc_field()


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    year: int
    name: str = Field(max_length=200, sa_column_kwargs={"info": not_personal("the campaign's name")})
    opens_at: datetime | None = utc_field(nullable=False)
    closes_at: datetime | None = utc_field(nullable=False)  # planned closing (closed_at: actual)
    status: str = Field(default="draft", max_length=16)  # CampaignStatus
    # Per-campaign overrides of dispatch settings (senders, content SIDs, reminder offsets...).
    config: dict[str, Any] = json_field(dict)
    created_at: datetime | None = utc_field()
    # The lifecycle (core.campaigns): who closed or archived it, when and why; the audit log keeps
    # every transition, reopenings included.
    closed_at: datetime | None = utc_field()
    closed_by: str | None = Field(default=None, max_length=120)  # a login, "cli:<user>" or "system"
    closed_reason: str | None = Field(default=None, max_length=300)
    archived_at: datetime | None = utc_field()
    archived_by: str | None = Field(default=None, max_length=120)
    purged_at: datetime | None = utc_field()

    def is_open(self, at: datetime | None = None) -> bool:
        now = at or utcnow()
        assert self.opens_at and self.closes_at
        return self.status not in CLOSED_STATUSES and as_utc(self.opens_at) <= now < as_utc(self.closes_at)


class Assignment(SQLModel, table=True):
    """One respondent of one campaign, with the secret behind their personal link."""

    __table_args__ = (
        UniqueConstraint("campaign_id", "person_id"),
        Index("ix_assignment_campaign_unit", "campaign_id", "unit_id", "group"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # The three references below are foreign keys on SQLite; on PostgreSQL triggers check them a
    # statement at a time (migration 0003, core.references), as person's two.
    # No single-column index: the unique (campaign_id, person_id) leads with it.
    campaign_id: int = Field(foreign_key="campaign.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    group: str = Field(max_length=16)  # Group (vendor stays vendor; scoring maps to external)
    kind: str = Field(default=AssignmentKind.sampled, max_length=16)
    reserve_rank: int | None = None
    active: bool = True  # reserves become active when they replace someone
    token_nonce: str = Field(max_length=64)
    token_hash: bytes = Field(sa_type=LargeBinary(32), unique=True, index=True)  # SHA-256 digest (core.tokens)
    counter: str | None = Field(default=None, max_length=60)  # loket, for participatory registrations
    responded_at: datetime | None = utc_field()
    created_at: datetime | None = utc_field()


class OptOut(SQLModel, table=True):
    """A WhatsApp number or email that asked not to be messaged again (STOP / BERHENTI)."""

    id: int | None = Field(default=None, primary_key=True)
    # E.164 phone or email; kept by the purge (the person's own request, honoured for good)
    address: str = Field(unique=True, index=True, max_length=254, sa_column_kwargs={"info": personal()})
    channel: str = Field(default="whatsapp", max_length=16)
    opted_out_at: datetime | None = utc_field()
