"""Tables of the action plan (rencana aksi): one row per action, and the evidence files of each
(stored on disk under DATA_DIR, never in the database: `actionplan.evidence`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from core.models import not_personal, utc_field

_PLAN_TEXT = "the institution's action-plan text (recommendations, actions, measures), not a person's"


def _text(why: str = _PLAN_TEXT) -> Column[str]:
    return Column(Text, nullable=False, default="", info=not_personal(why))


class ActionItem(SQLModel, table=True):
    """One action of a campaign's plan: from the risk map (level, group, dimension, variable and
    the standard recommendation) and what the institution adds (action, MCP area, success
    criteria and measure, owner unit, timing, due date) and follows up (status)."""

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    position: int = 0
    level: str = Field(default="", max_length=40)
    group: str = Field(default="", max_length=16)
    dimension: str = Field(default="", max_length=200)
    variable: str = Field(default="", max_length=400)
    levels: str = Field(default="", max_length=400)
    recommendation: str = Field(default="", sa_column=_text())
    action: str = Field(default="", sa_column=_text())
    mcp_area: str = Field(default="", max_length=200)
    success_criteria: str = Field(default="", sa_column=_text())
    success_measure: str = Field(default="", sa_column=_text())
    owner_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    timing: str = Field(default="", max_length=60)
    due_date: date | None = None
    status: str = Field(default="belum", max_length=16)
    updated_by: str = Field(default="system", max_length=120)
    updated_at: datetime | None = utc_field()


class ActionEvidence(SQLModel, table=True):
    """One evidence file of an action: its bytes live in DATA_DIR/actionplan/<stored> (a random
    name); the type was checked from the content (`actionplan.evidence.sniff`)."""

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="actionitem.id", index=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    kind: str = Field(max_length=20)  # evidence_kinds
    file_type: str = Field(max_length=10)  # evidence_types key (pdf, png, ...)
    size: int
    sha256: str = Field(max_length=64)
    stored: str = Field(max_length=64, unique=True)  # random file name under DATA_DIR/actionplan
    label: str = Field(default="", max_length=120)  # the uploaded file's name, cleaned
    uploaded_by: str = Field(max_length=120)
    uploaded_at: datetime | None = utc_field()
