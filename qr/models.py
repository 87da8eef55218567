"""Tables owned by qr: the short links printed under each QR code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import utc_field


class ShortLink(SQLModel, table=True):
    """`/p/<code>` → the registration or guest-book URL of one unit (and counter).

    The code is derived from SECRET_KEY and the target (so a reprint keeps the same code) and
    stored so the redirect can find its target. `counter` is "" when there is none.
    """

    __table_args__ = (UniqueConstraint("unit_id", "kind", "counter"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=16)
    kind: str = Field(max_length=16)  # registration | guestbook
    institution_id: int = Field(foreign_key="institution.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    counter: str = Field(default="", max_length=60)
    created_at: datetime | None = utc_field()
