"""Typed request parameters shared by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_ROW_ID = 2**31 - 1  # an INTEGER primary key (PostgreSQL int4); larger would reach the database

# A row id in a URL path: 1 .. MAX_ROW_ID, else 422 before the route runs (an id such as
# 99999999999 once reached PostgreSQL and came back as a 500).
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
