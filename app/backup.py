"""`spibot backup` and `spibot restore`: the database to and from BACKUP_DIR.

PostgreSQL: `pg_dump -Fc` (custom format, consistent at one moment while the system runs) and
`pg_restore --clean --if-exists --single-transaction` into the configured database. SQLite (the
embedded default): the online backup API (`sqlite3.Connection.backup`), consistent while other
processes write, and the same API the other way round to restore.

A backup is written under a `.partial` name and renamed when complete, so a file with a backup's
name is always a whole backup. Retention keeps the newest backup of each of the last BACKUP_KEEP
days that have one, and removes older ones; files not named like ours are never touched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from sqlalchemy.engine import URL, make_url

from core.clock import utcnow
from core.config import Settings, get_settings
from core.console import console, fail
from core.db import dispose_engines, normalize_url

log = logging.getLogger("spibot.backup")
PREFIX = "spibot-"
STAMP = "%Y%m%dT%H%M%SZ"
SUFFIXES = {"postgresql": ".dump", "sqlite": ".sqlite3"}
NAME = re.compile(r"^spibot-(\d{8}T\d{6}Z)(\.dump|\.sqlite3)$")
# The daily job skips when a backup younger than this exists (so a systemd timer and the
# scheduler's job together still make one a day; `spibot backup` alone always makes one).
DAILY_MIN_AGE = timedelta(hours=20)


class BackupError(RuntimeError):
    """A backup or restore could not be done (the message says why)."""


@dataclass(frozen=True)
class Backup:
    path: Path
    taken_at: datetime


def backup_dir(settings: Settings) -> Path:
    if not settings.backup_dir:
        raise BackupError("BACKUP_DIR is not set")
    return Path(settings.backup_dir)


def _url(settings: Settings) -> URL:
    return make_url(normalize_url(settings.database_url))


def _backend(url: URL) -> str:
    return "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"


def list_backups(directory: Path) -> list[Backup]:
    """Our complete backups in `directory`, oldest first."""
    found = []
    if directory.is_dir():
        for path in directory.iterdir():
            m = NAME.match(path.name)
            if m and path.is_file():
                found.append(Backup(path, datetime.strptime(m.group(1), STAMP).replace(tzinfo=UTC)))
    return sorted(found, key=lambda b: (b.taken_at, b.path.name))


def pg_tool(name: str) -> str:
    """`pg_dump`/`pg_restore`: from PATH, else the newest /usr/lib/postgresql/*/bin (Debian)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if candidates:
        return str(candidates[-1])
    raise BackupError(f"{name} not found (install the PostgreSQL client, e.g. postgresql-client)")


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (so it is not on a command line) and the environment
    that carries the password."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def backup(settings: Settings | None = None, *, now: datetime | None = None) -> Path:
    """Back up the configured database into BACKUP_DIR; then apply the retention. The new file."""
    settings = settings or get_settings()
    directory = backup_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    url = _url(settings)
    kind = _backend(url)
    taken = now or utcnow()
    final = directory / f"{PREFIX}{taken.strftime(STAMP)}{SUFFIXES[kind]}"
    partial = final.with_name(final.name + ".partial")
    try:
        if kind == "postgresql":
            uri, env = _libpq(url)
            _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", uri], env)
        else:
            source = _sqlite_path(url)
            if not source.exists():
                raise BackupError(f"no SQLite database at {source}")
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    removed = apply_retention(directory, settings.backup_keep)
    log.info("backup written: %s (%d old removed)", final, len(removed))
    return final


def apply_retention(directory: Path, keep_days: int) -> list[Path]:
    """Keep the newest backup of each of the newest `keep_days` days that have one; remove the
    others (our files only). The removed paths."""
    newest_per_day: dict[str, Backup] = {}
    for b in list_backups(directory):  # oldest first: the last one of a day wins
        newest_per_day[b.taken_at.date().isoformat()] = b
    kept_days = sorted(newest_per_day)[-max(1, keep_days):]
    keep = {newest_per_day[d].path for d in kept_days}
    removed = []
    for b in list_backups(directory):
        if b.path not in keep:
            b.path.unlink(missing_ok=True)
            removed.append(b.path)
    return removed


def daily_backup(settings: Settings | None = None) -> Path | None:
    """The scheduled backup: nothing unless BACKUP_DIR is set, nor when one younger than
    DAILY_MIN_AGE exists. The new file, if any."""
    settings = settings or get_settings()
    if not settings.backup_dir:
        return None
    existing = list_backups(Path(settings.backup_dir))
    if existing and utcnow() - existing[-1].taken_at < DAILY_MIN_AGE:
        return None
    return backup(settings)


def restore(path: Path, settings: Settings | None = None) -> None:
    """Replace the configured database's contents with the backup at `path`. Stop the web
    processes, workers and scheduler first (docs/deploy.md)."""
    settings = settings or get_settings()
    if not path.is_file():
        raise BackupError(f"no backup at {path}")
    url = _url(settings)
    dispose_engines()  # no pooled connection of ours holds the old contents (or a lock)
    if _backend(url) == "postgresql":
        if path.suffix != SUFFIXES["postgresql"]:
            raise BackupError(f"{path.name} is not a PostgreSQL backup (.dump)")
        uri, env = _libpq(url)
        _run([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--exit-on-error", f"--dbname={uri}", str(path)], env)
        return
    if path.suffix != SUFFIXES["sqlite"]:
        raise BackupError(f"{path.name} is not a SQLite backup (.sqlite3)")
    target = _sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


# --- commands -------------------------------------------------------------------------------------


def backup_command(
    daily: bool = typer.Option(False, "--daily", help="Only if no backup younger than 20 hours "
                               "exists (for a timer; the scheduler's daily job does the same)."),
) -> None:
    """Back up the database into BACKUP_DIR (pg_dump -Fc, or SQLite's online backup), then
    remove backups older than BACKUP_KEEP days."""
    try:
        path = daily_backup() if daily else backup()
    except BackupError as exc:
        fail(f"Backup failed: {exc}")
    console.print(f"backup: {path}" if path else "backup: a recent one exists, nothing to do")


def restore_command(
    file: Path = typer.Argument(..., help="A backup file written by `spibot backup`."),  # noqa: B008
    yes: bool = typer.Option(False, "--yes", help="Really replace the database's contents."),
) -> None:
    """Replace the configured database's contents with a backup (stop web, workers and the
    scheduler first)."""
    if not yes:
        fail("Restore replaces every row of the configured database. Stop the web processes, "
             "workers and the scheduler, then run again with --yes.")
    try:
        restore(file)
    except BackupError as exc:
        fail(f"Restore failed: {exc}")
    console.print(f"restored: {file}")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
