"""Tables owned by responses.

Answers are stored apart from identity: `Response` carries no assignment or person id. The only
bridge is `ResponseLink` (assignment_id <-> response_id), which the form and the import use to
enforce "one response per token" and which reports and scoring never join.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import json_field, not_personal, utc_field


class ResponseStatus:
    draft = "draft"
    submitted = "submitted"


class Response(SQLModel, table=True):
    __table_args__ = (
        Index("ix_response_campaign_status", "campaign_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    group: str = Field(max_length=16)  # survey group: internal / external / expert
    respondent_group: str = Field(max_length=16)  # as sampled: internal / external / vendor / expert
    questionnaire_year: int
    status: str = Field(default=ResponseStatus.draft, max_length=16)
    answers: dict[str, Any] = json_field(dict)
    service_type: str | None = Field(default=None, max_length=16)  # external: pbj / non_pbj
    expert_group: str | None = Field(default=None, max_length=40)  # melekat / publik
    source: str = Field(default="web", max_length=20)  # web, import, webhook
    submission_id: str | None = Field(default=None, unique=True, max_length=120)
    body_hash: str | None = Field(default=None, max_length=64, sa_column_kwargs={
        "info": not_personal("SHA-256 of a submission's answers, for resends")})
    # Per page: {"<page id>": {"shown": iso, "saved": iso}} for the integrity checks.
    page_times: dict[str, Any] = json_field(dict)
    ip_hash: str | None = Field(default=None, max_length=64, index=True)  # HMAC(SECRET_KEY), never raw
    ua_hash: str | None = Field(default=None, max_length=64)
    # Set by the integrity checks; scoring can leave flagged responses out.
    flagged: bool = False
    review_status: str | None = Field(default=None, max_length=20)  # None, pending, kept, excluded
    created_at: datetime | None = utc_field()
    started_at: datetime | None = utc_field()
    updated_at: datetime | None = utc_field()
    submitted_at: datetime | None = utc_field(index=True)


class ResponseLink(SQLModel, table=True):
    """The one bridge between identity (assignment) and answers (response). Reports never join it."""

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", unique=True)
    response_id: int = Field(foreign_key="response.id", unique=True)


class CorrectionInput(SQLModel, table=True):
    """Correction-factor points for one campaign, entered by the PIC/KPK or computed by integrity.

    `parts` maps a component ("corruption_prevalence", "survey_integrity", ...) to points that are
    subtracted from the weighted index; `history` holds earlier years' published indices.
    """

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", unique=True)
    parts: dict[str, Any] = json_field(dict)
    history: dict[str, Any] = json_field(dict)
    # Inputs of the correction factor only KPK has (reports.correction): part -> {"value", "source"}.
    kpk_inputs: dict[str, Any] = json_field(dict)
    updated_at: datetime | None = utc_field()


class IndexHistory(SQLModel, table=True):
    """One institution's published (or spibot-computed) index and sub-indices of one year, entered
    once (reports.history): the report's history chart and the peer ranking read it."""

    __table_args__ = (UniqueConstraint("institution_id", "year", name="uq_indexhistory_institution_year"),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    year: int
    index: float
    internal: float | None = None
    external: float | None = None
    expert: float | None = None
    source: str = Field(default="", max_length=200)  # "KPK 2023 (publikasi)", "spibot"
    entered_at: datetime | None = utc_field()
