"""Liveness and readiness (`/healthz`, `/readyz`; docs/observability.md).

Alive: the process answers (no database: a database outage must not get every web process
restarted). Ready: the database answers, Redis answers when REDIS_URL is set, and the database's
Alembic revision is the scripts' head (a web process of a newer release waits for `spibot
migrate`). The revision check is cached for MIGRATION_CACHE_SECONDS once it passed; the database
and Redis are asked on every call (one round trip each, with short timeouts).
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from typing import Any

from sqlalchemy import text

from core.config import get_settings
from core.db import get_engine

MIGRATION_CACHE_SECONDS = 30.0
REDIS_TIMEOUT_SECONDS = 0.5
_checked: dict[str, float] = {}  # database URL -> monotonic time its revision was found at head
_lock = threading.Lock()


@lru_cache(maxsize=1)
def script_heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    from core.migrate import alembic_config

    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def _database() -> tuple[bool, str]:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return False, f"unreachable: {type(exc).__name__}"
    return True, "ok"


def _redis() -> tuple[bool, str]:
    url = get_settings().redis_url
    if not url:
        return True, "not configured"
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                  socket_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return False, f"unreachable: {type(exc).__name__}"
    finally:
        client.close()
    return True, "ok"


def _migrations() -> tuple[bool, str]:
    from alembic.migration import MigrationContext

    url = get_settings().database_url
    with _lock:
        at = _checked.get(url)
    if at is not None and time.monotonic() - at < MIGRATION_CACHE_SECONDS:
        return True, "ok"
    try:
        with get_engine().connect() as conn:
            current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    except Exception as exc:  # noqa: BLE001
        return False, f"unknown: {type(exc).__name__}"
    heads = script_heads()
    if current != heads:
        return False, f"database at {','.join(current) or 'none'}, code at {','.join(heads)}"
    with _lock:
        _checked[url] = time.monotonic()
    return True, "ok"


def readiness() -> tuple[bool, dict[str, Any]]:
    """(ready, the JSON body): each check's verdict."""
    db_ok, db = _database()
    redis_ok, red = _redis()
    mig_ok, mig = _migrations() if db_ok else (False, "not checked: database unreachable")
    ready = db_ok and redis_ok and mig_ok
    return ready, {"status": "ready" if ready else "not ready",
                   "checks": {"database": db, "redis": red, "migrations": mig}}


def forget() -> None:
    """Forget the cached revision checks (tests)."""
    with _lock:
        _checked.clear()
