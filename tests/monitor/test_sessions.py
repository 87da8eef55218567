"""Server-side dashboard sessions (issue #21): logout, a password change and disabling a user end
sessions at once; idle and absolute expiry; a stolen cookie replayed after logout is anonymous."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from core.clock import utcnow
from monitor.auth import COOKIE
from monitor.models import MonitorSession, User
from monitor.users import set_active, set_password
from tests.monitor.conftest import World, csrf_of, login


def _fresh(client: TestClient) -> TestClient:
    return TestClient(client.app, base_url="https://testserver")


def _anonymous(client: TestClient) -> bool:
    return str(client.get("/pic", follow_redirects=False).headers["location"]).startswith("/pic/login")


def _replay(client: TestClient, cookie: str) -> TestClient:
    thief = _fresh(client)
    thief.cookies.set(COOKIE, cookie)
    return thief


def test_a_cookie_replayed_after_logout_is_anonymous(world: World, client: TestClient,
                                                     session: Session) -> None:
    assert login(client, "pic.a").status_code == 303
    stolen = client.cookies.get(COOKIE)
    assert stolen and not _anonymous(_replay(client, stolen))  # a copy works while logged in ...
    csrf = csrf_of(client, f"/pic/c/{world.a.campaign.id}/unit")
    assert client.post("/pic/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert _anonymous(_replay(client, stolen))  # ... and not after logout
    row = session.exec(select(MonitorSession)).one()
    assert row.revoked_at is not None and row.ip == "testclient"
    assert len(row.token_hash) == 32 and stolen.encode() not in row.token_hash  # only the hash is kept


def test_password_change_and_disabling_end_every_session(world: World, client: TestClient,
                                                         session: Session) -> None:
    laptop, phone = client, _fresh(client)
    for device in (laptop, phone):
        assert login(device, "pic.a").status_code == 303
    other_user = _fresh(client)
    assert login(other_user, "pic.b").status_code == 303
    set_password(session, "pic.a", "sandi-baru-yang-panjang", actor="test")
    session.commit()
    assert _anonymous(laptop) and _anonymous(phone)
    assert not _anonymous(other_user)  # another user's session is untouched
    assert login(laptop, "pic.a", "sandi-baru-yang-panjang").status_code == 303
    assert not _anonymous(laptop)
    set_active(session, "pic.a", False, actor="test")
    session.commit()
    assert _anonymous(laptop)
    set_active(session, "pic.a", True, actor="test")
    session.commit()
    assert _anonymous(laptop)  # enabling again does not revive an ended session


def test_sessions_expire_when_idle_and_in_any_case(world: World, client: TestClient,
                                                   session: Session) -> None:
    assert login(client, "pic.a").status_code == 303
    user_id = session.exec(select(User.id).where(User.login == "pic.a")).one()
    now = utcnow()
    # last request 59 minutes ago: still fine, and marked seen again
    session.exec(update(MonitorSession).values(last_seen_at=now - timedelta(minutes=59)))
    session.commit()
    assert not _anonymous(client)
    session.expire_all()
    seen = session.exec(select(MonitorSession.last_seen_at)).one()
    assert seen is not None and seen > now - timedelta(minutes=1)
    # idle for longer than MONITOR_SESSION_IDLE_MINUTES (60): ended
    session.exec(update(MonitorSession).values(last_seen_at=now - timedelta(minutes=61)))
    session.commit()
    assert _anonymous(client)
    # a new login, busy all along but past its absolute end: ended too
    assert login(client, "pic.a").status_code == 303
    session.exec(update(MonitorSession).where(col(MonitorSession.revoked_at).is_(None),
                                              col(MonitorSession.user_id) == user_id)
                 .values(expires_at=now - timedelta(seconds=1)))
    session.commit()
    assert _anonymous(client)


def test_a_cookie_signed_with_the_key_but_without_a_session_is_anonymous(world: World,
                                                                         client: TestClient) -> None:
    """The old cookie form (user id + version, signed) no longer logs anyone in."""
    from monitor.auth import _serializer

    user_cookie = _serializer().dumps({"u": 1, "v": 1, "c": "x"})
    assert _anonymous(_replay(client, user_cookie))
    assert _anonymous(_replay(client, _serializer().dumps({"s": "guessed", "c": "x"})))
