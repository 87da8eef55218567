"""Backups (app.backup, issue 22): `spibot backup` then `spibot restore` brings the data back as
it was at backup time, on SQLite (online backup API) and PostgreSQL (pg_dump -Fc / pg_restore
--clean, into a throwaway database of our own); retention; the daily job; refusals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app import backup as bk
from cli import app
from core.config import get_settings, reset_settings
from core.db import dispose_engines, session_scope
from core.migrate import upgrade
from core.models import Institution
from tests.factories import make_institution
from tests.fixtures.db import PG_ADMIN


@pytest.fixture(params=["sqlite", "postgresql"])
def own_db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database of this test alone (PostgreSQL: created and dropped here), with
    DATABASE_URL and BACKUP_DIR pointing at it and at a fresh directory."""
    name = f"spibot_backup_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'live.db'}"
    else:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    reset_settings()
    yield url
    reset_settings()
    dispose_engines()
    if request.param == "postgresql":
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def names() -> set[str]:
    with session_scope() as s:
        return set(s.execute(select(Institution.name)).scalars())


def test_restore_brings_back_the_data_as_at_backup_time(own_db: str) -> None:
    """Proves a backup holds the data of its moment and restore replaces later changes (a
    deleted row comes back, a renamed one has its old name, a later one is gone)."""
    with session_scope(write=True) as s:
        make_institution(s, name="Kementerian A")
        make_institution(s, name="Kementerian B")
    runner = CliRunner()
    result = runner.invoke(app, ["backup"])
    assert result.exit_code == 0, result.output
    [made] = bk.list_backups(Path(get_settings().backup_dir or ""))
    assert made.path.suffix == (".sqlite3" if own_db.startswith("sqlite") else ".dump")

    with session_scope(write=True) as s:
        a, b = (s.execute(select(Institution).where(Institution.name == n)).scalar_one()
                for n in ("Kementerian A", "Kementerian B"))
        a.name = "Kementerian A (diubah)"
        s.delete(b)
        make_institution(s, name="Kementerian C")
    assert names() == {"Kementerian A (diubah)", "Kementerian C"}

    result = runner.invoke(app, ["restore", str(made.path), "--yes"])
    assert result.exit_code == 0, result.output
    dispose_engines()
    assert names() == {"Kementerian A", "Kementerian B"}
    with session_scope(write=True) as s:  # the restored database is usable: ids continue
        make_institution(s, name="Kementerian D")
    assert "Kementerian D" in names()


def test_restore_refuses_without_yes(own_db: str) -> None:
    """Proves the restore asks for --yes and changes nothing without it."""
    with session_scope(write=True) as s:
        make_institution(s, name="Kementerian A")
    path = bk.backup()
    with session_scope(write=True) as s:
        make_institution(s, name="Kementerian B")
    result = CliRunner().invoke(app, ["restore", str(path)])
    assert result.exit_code == 2 and "--yes" in result.output
    assert names() == {"Kementerian A", "Kementerian B"}


def test_failed_backup_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves a failing pg_dump raises a clear error and leaves no (partial) backup behind."""
    monkeypatch.setenv("DATABASE_URL", f"{PG_ADMIN.rsplit('/', 1)[0]}/spibot_no_such_database")
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "b"))
    reset_settings()
    try:
        with pytest.raises(bk.BackupError, match="pg_dump failed"):
            bk.backup()
        assert list((tmp_path / "b").iterdir()) == []
    finally:
        reset_settings()


def _touch(directory: Path, when: datetime, suffix: str = ".dump") -> Path:
    path = directory / f"spibot-{when.strftime(bk.STAMP)}{suffix}"
    path.write_bytes(b"x")
    return path


def test_retention_keeps_the_newest_backup_of_each_of_the_last_days(tmp_path: Path) -> None:
    """Proves retention keeps one backup per day for BACKUP_KEEP days (the newest of each) and
    never touches files that are not ours."""
    start = datetime(2026, 3, 1, 19, 0, tzinfo=UTC)
    daily = [_touch(tmp_path, start + timedelta(days=d)) for d in range(10)]
    manual = _touch(tmp_path, start + timedelta(days=9, hours=2))  # a second one on the last day
    foreign = tmp_path / "notes.txt"
    foreign.write_text("keep me")
    partial = tmp_path / (daily[0].name + ".partial")
    partial.write_bytes(b"x")
    removed = bk.apply_retention(tmp_path, 3)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([daily[7].name, daily[8].name, manual.name, foreign.name, partial.name])
    assert sorted(removed) == sorted(daily[:7] + [daily[9]])


def test_daily_job_backs_up_once_a_day_and_only_when_configured(own_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the scheduled job makes a backup when none is recent, skips when one is (a timer
    and the scheduler together make one a day), and does nothing without BACKUP_DIR."""
    import scheduler

    first = scheduler.job_backup()["backup"]
    assert first and Path(first).is_file()
    assert scheduler.job_backup() == {"backup": None}
    sched = scheduler.build_scheduler()  # registered daily at BACKUP_HOUR_UTC
    job = sched.get_job("job_backup")
    assert job is not None and str(job.trigger.fields[5]) == str(get_settings().backup_hour_utc)
    monkeypatch.setenv("BACKUP_DIR", "")
    reset_settings()
    assert scheduler.job_backup() == {"backup": None}
    assert scheduler.build_scheduler().get_job("job_backup") is None
