"""An append-only audit log of privileged actions (import, sample, send, reminder, export, user
change, purge): who, what, when. Rows are only ever inserted."""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel

from core.clock import utcnow
from core.models import json_field, utc_field


class AuditLog(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = utc_field(nullable=False, index=True)
    actor: str = Field(max_length=120)  # user login, or "cli:<os user>", or "system"
    action: str = Field(max_length=60, index=True)  # e.g. population.import, sample.draw
    institution_id: int | None = Field(default=None, index=True)
    target: str | None = Field(default=None, max_length=200)
    details: dict[str, Any] = json_field(dict)


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    institution_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        at=utcnow(), actor=actor, action=action, institution_id=institution_id,
        target=target, details=details or {},
    )
    session.add(entry)
    return entry


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user in some containers
        return "cli"
