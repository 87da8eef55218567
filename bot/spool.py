"""The inbound spool: webhooks kept on local disk while the database cannot store them.

Twilio posts an inbound message whether or not our database is up, and does not keep it for us.
When the database cannot be reached (`UNREACHABLE`), the webhook (bot.webhook), after checking
the signature, writes the form here and answers 200, so Twilio stops posting it and nothing is
lost; a drainer thread in the web process stores the spooled messages once the database is back,
oldest first, and wakes the bot's decider, which answers them as any other stored message.

- Durable: one file per MessageSid in `DATA_DIR/inbound-spool/`, written to a temp file
  (`.tmp-*.part`, never listed), fsynced, then linked to its final name (a rename that never
  replaces: a Twilio retry of the same MessageSid finds the file there and adds nothing) and the
  directory fsynced. A crash leaves either a whole entry or a temp file, never a partial entry.
  The file holds the form as signed (phone number and text: personal data, mode 0600) and its
  arrival time.
- In order: while the spool has entries, new webhooks are spooled behind them (not stored
  directly, which would overtake them); entries are stored oldest arrival first, each with its
  arrival time as `received_at`, so the decider (oldest id first) answers them in order.
- Once: an entry is deleted only after the transaction that stored it committed. If the process
  dies in between, the entry is stored again on the next drain: `accept_many`'s `INSERT ... ON
  CONFLICT (message_sid) DO NOTHING` makes that a no-op (tests/bot/test_spool.py proves it).
- One drainer per host at a time (an flock in the spool directory); any web process whose
  webhook sees entries starts its own drainer thread (`kick`), which retries with a back-off
  until the spool is empty.
- Disk full (or any other write error): `put` raises OSError after removing its temp file; the
  webhook answers 503 so Twilio tries again later.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bot.service import accept_many, wake
from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope, write_lock
from dispatch import parse_twilio_inbound as parse_inbound

log = logging.getLogger("spibot.spool")

UNREACHABLE = (OperationalError, InterfaceError, PoolTimeoutError)  # the database cannot store now
DIRECTORY = "inbound-spool"
FAILED = "failed"  # sub-directory for an entry that cannot be stored even with the database up
SUFFIX = ".json"
DRAIN_BATCH = 200  # entries stored per transaction
RETRY_SECONDS = 1.0  # the drainer's first wait after a failure (or while another process drains)
MAX_RETRY_SECONDS = 15.0  # ... doubling up to this
WARN_EVERY_SECONDS = 300.0  # while the database stays down, repeat the warning at most this often
_SAFE_SID = re.compile(r"[A-Za-z0-9]{1,64}")


@dataclass(frozen=True)
class Entry:
    path: Path
    arrived: int  # time.time_ns() at arrival: the order of answering
    received_at: datetime
    form: dict[str, str]


def spool_dir() -> Path:
    return get_settings().data_dir / DIRECTORY


def _file_name(sid: str) -> str:
    """Twilio's MessageSids are 34 letters and digits; anything else is hashed."""
    if _SAFE_SID.fullmatch(sid):
        return sid + SUFFIX
    return "h" + hashlib.sha256(sid.encode("utf-8", "replace")).hexdigest()[:40] + SUFFIX


def _entry_paths(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as found:
            return [Path(e.path) for e in found
                    if e.name.endswith(SUFFIX) and not e.name.startswith(".") and e.is_file()]
    except FileNotFoundError:
        return []


def has_entries(directory: Path | None = None) -> bool:
    """Whether anything waits in the spool (one directory read: cheap enough per webhook)."""
    try:
        with os.scandir(directory or spool_dir()) as found:
            return any(e.name.endswith(SUFFIX) and not e.name.startswith(".") for e in found)
    except FileNotFoundError:
        return False


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def put(form: dict[str, str], *, directory: Path | None = None) -> bool:
    """Spool one signed inbound form durably. True: spooled now; False: that MessageSid is
    already spooled (a retry: nothing added). Raises OSError (nothing left behind) when it cannot
    be written, e.g. ENOSPC."""
    directory = directory or spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / _file_name(form.get("MessageSid", ""))
    if final.exists():
        return False
    data = json.dumps({"arrived": time.time_ns(), "received_at": utcnow().isoformat(),
                       "form": form}, ensure_ascii=False).encode("utf-8")
    fd = -1
    tmp = directory / f".tmp-{os.getpid()}-{threading.get_ident()}-{time.time_ns()}.part"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        try:
            os.link(tmp, final)  # atomic, and never replaces an entry a retry already made
            created = True
        except FileExistsError:
            created = False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            # a file system without hard links: a rename (a racing retry may replace the
            # entry with its own identical form, one file either way)
            created = not final.exists()
            os.replace(tmp, final)
        _fsync_dir(directory)
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return created


def _read(path: Path) -> Entry:
    raw: dict[str, Any] = json.loads(path.read_bytes())
    form = {str(k): str(v) for k, v in raw["form"].items()}
    return Entry(path, int(raw["arrived"]), datetime.fromisoformat(raw["received_at"]), form)


def entries(directory: Path | None = None, limit: int | None = None) -> list[Entry]:
    """The spooled entries, oldest arrival first. An unreadable one (never written by `put`,
    which leaves whole files only) is moved to `failed/` and logged."""
    directory = directory or spool_dir()
    found: list[Entry] = []
    for path in _entry_paths(directory):
        try:
            found.append(_read(path))
        except FileNotFoundError:
            continue  # drained meanwhile by another process
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("unreadable spool entry %s moved to %s/", path.name, FAILED)
            _set_aside(path)
    found.sort(key=lambda e: (e.arrived, e.path.name))
    return found[:limit] if limit is not None else found


def _set_aside(path: Path) -> None:
    target = path.parent / FAILED
    target.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target / path.name)


def _store(batch: list[Entry]) -> None:
    """Store the entries in one transaction, each with its arrival time, in arrival order."""
    with write_lock(), session_scope(write=True) as session:
        for entry in batch:
            accept_many(session, [parse_inbound(entry.form)], now=entry.received_at)


@contextlib.contextmanager
def _drain_lock(directory: Path) -> Iterator[bool]:
    fd = os.open(directory / ".drain.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def drain_once(directory: Path | None = None, limit: int = DRAIN_BATCH) -> tuple[int, bool]:
    """Store up to `limit` entries (oldest first) and delete them: (stored, entries left).

    Raises an `UNREACHABLE` error while the database is down (nothing deleted). An entry that
    fails for another reason is tried alone; one that still fails is moved to `failed/` (logged),
    so a bad entry never blocks the spool. (0, True) when another process is draining.
    """
    directory = directory or spool_dir()
    if not has_entries(directory):
        return 0, False
    with _drain_lock(directory) as mine:
        if not mine:
            return 0, True
        batch = entries(directory, limit)
        if not batch:
            return 0, False
        try:
            _store(batch)
            done = batch
        except UNREACHABLE:
            raise
        except Exception:  # noqa: BLE001 - found one at a time below
            done = []
            for entry in batch:
                try:
                    _store([entry])
                except UNREACHABLE:
                    raise
                except Exception:  # noqa: BLE001 - set aside so the spool keeps moving
                    log.exception("spool entry %s cannot be stored: moved to %s/",
                                  entry.path.name, FAILED)
                    _set_aside(entry.path)
                    continue
                done.append(entry)
        for entry in done:  # committed: a crash before this line only replays harmless inserts
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        _fsync_dir(directory)
    if done:
        log.info("%d spooled inbound message(s) stored", len(done))
        wake()  # answer them
    return len(done), has_entries(directory)


_wanted = threading.Event()
_stopping = threading.Event()
_thread_lock = threading.Lock()
_thread: tuple[int, threading.Thread] | None = None


def stop(timeout: float = 5.0) -> None:
    """Stop this process's drainer thread (at shutdown): what is left stays spooled on disk and
    is drained by the next start (`kick_if_waiting`)."""
    global _thread
    with _thread_lock:
        current, _thread = _thread, None
        _stopping.set()
    if current is not None and current[0] == os.getpid():
        current[1].join(timeout)


def kick_if_waiting() -> None:
    """At start: drain what an earlier process left in the spool."""
    if has_entries(spool_dir()):
        kick()


def kick() -> None:
    """Have this process's drainer thread empty the spool (started if it is not running)."""
    global _thread
    _wanted.set()
    with _thread_lock:
        _stopping.clear()
        if _thread is not None and _thread[0] == os.getpid() and _thread[1].is_alive():
            return
        thread = threading.Thread(target=_drain_forever, name="bot-spool", daemon=True)
        _thread = (os.getpid(), thread)
        thread.start()


def _drain_forever() -> None:
    global _thread
    delay, warned_at = RETRY_SECONDS, 0.0
    while not _stopping.is_set():
        _wanted.clear()
        try:
            stored, more = drain_once()
            wait = 0.0 if stored else RETRY_SECONDS  # nothing stored: another process drains
            delay = RETRY_SECONDS
        except Exception as exc:  # noqa: BLE001 - the database is down: wait and try again
            more, wait = True, delay
            delay = min(delay * 2, MAX_RETRY_SECONDS)
            if time.monotonic() - warned_at > WARN_EVERY_SECONDS or not warned_at:
                warned_at = time.monotonic()
                log.warning("spooled inbound messages wait for the database (%s); next try in "
                            "%.1f s", type(exc).__name__, wait)
        if more:
            _stopping.wait(wait)
            continue
        with _thread_lock:
            if not _wanted.is_set():
                _thread = None
                return
