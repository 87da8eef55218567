"""Tables owned by integrity: one `Review` row per (response, signal) flagged for review.

A flagged response is never dropped: it stays in `response`, marked (`flagged`, `review_status`),
and a reviewer records a decision here (kept = a false alarm, counted; excluded = compromised).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import json_field, utc_field


class Decision:
    pending = "pending"
    kept = "kept"
    excluded = "excluded"
    ALL = (pending, kept, excluded)


class Review(SQLModel, table=True):
    __tablename__ = "integrity_review"
    __table_args__ = (
        UniqueConstraint("response_id", "signal", name="ux_integrity_review_response_signal"),
        Index("ix_integrity_review_campaign", "campaign_id", "decision"),
    )
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    response_id: int = Field(foreign_key="response.id", index=True)
    unit_id: int | None = Field(default=None)
    signal: str = Field(max_length=32)
    evidence: dict[str, Any] = json_field(dict)
    decision: str = Field(default=Decision.pending, max_length=16)
    reviewer: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=500)
    flagged_at: datetime | None = utc_field(nullable=False)
    decided_at: datetime | None = utc_field()
