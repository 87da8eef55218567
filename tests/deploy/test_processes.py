"""The processes a deployment runs apart (issue 22): `spibot serve --no-migrate` leaves the schema
alone and gives uvicorn a bounded graceful shutdown; `spibot scheduler` runs the jobs without a
worker and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import func, select
from sqlmodel import Session, col
from typer.testing import CliRunner

from app import serve as serve_module
from app.tuning import FREEZE_GC_ENV
from cli import app
from dispatch.models import Outbox
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit

ROOT = Path(__file__).resolve().parents[2]
SPIBOT = "from tests import netguard; netguard.install(); from cli import app; app(prog_name='spibot')"


def test_serve_no_migrate_skips_the_upgrade_and_bounds_the_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves `serve --no-migrate` never touches the schema, and uvicorn gets
    timeout_graceful_shutdown = SHUTDOWN_GRACE_SECONDS (in-flight requests drain on SIGTERM);
    without --no-migrate the upgrade runs (the embedded default)."""
    calls: dict[str, Any] = {}
    upgrades: list[bool] = []
    monkeypatch.setenv(FREEZE_GC_ENV, "0")  # serve sets it; monkeypatch restores it afterwards
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "7")
    from core.config import reset_settings

    reset_settings()
    monkeypatch.setattr(serve_module, "upgrade", lambda: upgrades.append(True))
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.update(kw))
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--no-scheduler", "--no-worker", "--no-migrate", "--port", "8011"])
    assert result.exit_code == 0, result.output
    assert upgrades == []
    assert calls["timeout_graceful_shutdown"] == 7 and calls["port"] == 8011
    result = runner.invoke(app, ["serve", "--no-scheduler", "--no-worker"])
    assert result.exit_code == 0, result.output
    assert upgrades == [True]
    reset_settings()


def test_scheduler_process_enqueues_without_sending_and_stops_on_sigterm(
        db_url: str, session: Session, tmp_path: Path) -> None:
    """Proves `spibot scheduler` runs the jobs (a due invitation is enqueued at start), embeds no
    worker (the row stays pending), and exits 0 within seconds of SIGTERM."""
    inst = make_institution(session)
    unit = make_unit(session, inst)
    campaign = make_campaign(session, inst)
    make_assignment(session, campaign, make_person(session, unit))
    session.commit()
    log = tmp_path / "scheduler.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", SPIBOT, "scheduler"], cwd=ROOT, env=dict(os.environ),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not session.execute(select(func.count()).select_from(Outbox)).scalar():
            session.commit()
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.1)
        time.sleep(2)  # a worker, if one were embedded, would have sent it by now
        session.commit()
        assert session.execute(select(col(Outbox.status))).scalars().all() == ["pending"]
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert proc.wait(timeout=20) == 0, log.read_text()
        assert time.monotonic() - stopped < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
