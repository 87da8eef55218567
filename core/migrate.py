"""Run Alembic migrations programmatically (the CLI, `make run` and the tests use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from core.config import ROOT, get_settings
from core.db import get_engine, normalize_url


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = normalize_url(url or get_settings().database_url)
    return cfg


def upgrade(url: str | None = None) -> None:
    url = normalize_url(url or get_settings().database_url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(url)
    with get_engine(url).connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        connection.commit()
