"""Tables owned by population: one row per import and one per sample draw (the audit trail)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import json_field, utc_field


class ImportBatch(SQLModel, table=True):
    """One `population import` run: which files, for which reference date, and its summary."""

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    reference_date: date
    files: list[str] = json_field(list)  # file names with their SHA-256
    actor: str = Field(default="system", max_length=120)
    summary: dict[str, Any] = json_field(dict)
    created_at: datetime | None = utc_field()


class SampleDraw(SQLModel, table=True):
    """One sample draw of a campaign: everything needed to check or repeat it.

    `version` grows when a draw is replaced; (campaign_id, version) is unique, so two concurrent
    draws of the same campaign cannot both succeed.
    """

    __table_args__ = (UniqueConstraint("campaign_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    version: int = 1
    current: bool = True
    seed: int
    margin: float
    confidence: float
    population_hash: str = Field(max_length=64)
    sizes: dict[str, Any] = json_field(dict)
    allocations: dict[str, Any] = json_field(dict)
    actor: str = Field(default="system", max_length=120)
    created_at: datetime | None = utc_field()
