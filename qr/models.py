"""Tables owned by qr: the short links printed under each QR code, and the counters (loket)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import not_personal, utc_field


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


class Counter(SQLModel, table=True):
    """A counter (loket) of a unit, with its average daily visitors: each gets its own poster.

    `name` is also the code in `Unit.counters` (the list the registration page and the posters
    check) and in `?loket=` of the poster's URL; `qr.counters.add_counter` keeps both in step.
    """

    __tablename__ = "qr_counter"
    __table_args__ = (UniqueConstraint("unit_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    name: str = Field(max_length=60, sa_column_kwargs={"info": not_personal("a counter's name, e.g. Loket 1")})
    daily_visitors: int = Field(default=0)
    created_at: datetime | None = utc_field()
