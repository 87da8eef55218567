"""/healthz (alive, no database) and /readyz (database, Redis when configured, migrations at
head), and that probes pass production's host check."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core import health
from core.config import reset_settings
from tests.fixtures.db import migrate


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    health.forget()
    yield
    health.forget()


def client() -> TestClient:
    from web import create_app

    return TestClient(create_app(), client=("127.0.0.1", 40000))


def test_ready_when_database_is_up_and_migrated(db_url: str) -> None:
    """Proves the happy path: 200 with each check's verdict."""
    r = client().get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "redis": "not configured", "migrations": "ok"}}


def test_not_ready_when_migrations_are_behind(db_url: str) -> None:
    """Proves the revision check: one migration down, /readyz is 503 and says where each side is;
    /healthz (alive) stays 200."""
    migrate(db_url, "0008", down=True)
    try:
        c = client()
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["migrations"].startswith("database at 0008, code at ")
        assert c.get("/healthz").json() == {"status": "ok"}
    finally:
        migrate(db_url, "head")  # the PostgreSQL database is shared by the session's tests
    assert c.get("/readyz").status_code == 200


def test_not_ready_when_the_database_is_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the database check: a PostgreSQL nobody listens on gives 503 (and /healthz, which
    does not touch the database, still answers 200)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://root@127.0.0.1:{port}/nothing?connect_timeout=2")
    reset_settings()
    c = client()
    r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("unreachable")
    assert r.json()["checks"]["migrations"].startswith("not checked")
    assert c.get("/healthz").status_code == 200
    reset_settings()


def _redis_server(port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def test_redis_is_checked_when_configured(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the Redis check on a Redis of the test's own (never the shared one): ready while it
    runs, 503 once it is stopped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _redis_server(port, tmp_path)
    try:
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
        reset_settings()
        c = client()
        assert c.get("/readyz").json()["checks"]["redis"] == "ok"
        proc.terminate()
        proc.wait(timeout=10)
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["redis"].startswith("unreachable")
    finally:
        if proc.poll() is None:
            proc.kill()
        reset_settings()


def test_probes_pass_the_production_host_check(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves probes and scrapers reach /healthz, /readyz and /metrics by an internal host name in
    production, while any other path still refuses a foreign Host."""
    monkeypatch.setenv("ENV", "prod")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    reset_settings()
    c = client()
    for path in ("/healthz", "/readyz", "/metrics"):
        assert c.get(path, headers={"Host": "web:8000"}).status_code == 200, path
    assert c.get("/pic", headers={"Host": "web:8000"}, follow_redirects=False).status_code == 400
    reset_settings()
