"""The live figures' polling is not activity (issue #21): `/pic/c/N/live.json`, which an open
dashboard tab requests by itself every few seconds, leaves the session's last_seen_at alone, so a
tab left open still ends at the idle timeout; any other request marks the session seen. On SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from core.clock import as_utc, utcnow
from monitor.models import MonitorSession
from tests.monitor.conftest import World, login


def _seen(session: Session) -> datetime:
    session.rollback()
    value = session.exec(select(MonitorSession.last_seen_at)).one()
    assert value is not None
    return as_utc(value)


def _idle_for(session: Session, minutes: int) -> datetime:
    at = utcnow() - timedelta(minutes=minutes)
    session.exec(update(MonitorSession).values(last_seen_at=at))
    session.commit()
    return at


def test_polling_does_not_keep_a_session_alive(world: World, client: TestClient, session: Session) -> None:
    assert login(client, "pic.a").status_code == 303
    live = f"/pic/c/{world.a.campaign.id}/live.json"

    # idle 30 minutes: the poll is answered, the session is not marked seen
    before = _idle_for(session, 30)
    polled = client.get(live, follow_redirects=False)
    assert polled.status_code == 200 and polled.headers["content-type"].startswith("application/json")
    assert abs((_seen(session) - before).total_seconds()) < 1

    # a page the PIC opens does mark it seen (so the check above can tell the two apart)
    assert client.get(f"/pic/c/{world.a.campaign.id}/unit", follow_redirects=False).status_code == 200
    assert _seen(session) > utcnow() - timedelta(minutes=1)

    # polled all along, but no request of the PIC's for longer than the idle timeout: ended
    _idle_for(session, 61)
    gone = client.get(live, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/pic/login")
    assert client.get(f"/pic/c/{world.a.campaign.id}/unit", follow_redirects=False).status_code == 303
