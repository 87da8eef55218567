"""Login, cookie, CSRF, lockout, user management (CLI and admin page) and their audit trail."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.audit import AuditLog
from monitor.auth import COOKIE
from monitor.models import User
from tests.monitor.conftest import PASSWORD, World, csrf_of, login


def test_login_sets_a_hardened_cookie_and_logout_clears_it(world: World, client: TestClient) -> None:
    response = login(client, "pic.a")
    assert response.status_code == 303
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE))
    assert "HttpOnly" in cookie and "Secure" in cookie and "samesite=lax" in cookie.lower()
    csrf = csrf_of(client, f"/pic/c/{world.a.campaign.id}/unit")
    assert client.post("/pic/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/pic", follow_redirects=False).headers["location"].startswith("/pic/login")


def test_wrong_passwords_limit_the_network_never_the_account(world: World, client: TestClient) -> None:
    from web import create_app

    for _ in range(5):
        response = login(client, "pic.a", "salah-sekali-123")
        assert response.status_code == 401 and "salah" in response.text
    # this network is refused on this login for a while, even with the right password ...
    response = login(client, "pic.a")
    assert response.status_code == 429 and "Terlalu banyak percobaan" in response.text
    assert login(client, "tidak.ada", PASSWORD).status_code == 401  # ... not on other logins yet
    # ... but a stranger cannot lock the owner out: from the owner's network the account works
    with TestClient(create_app(), base_url="https://testserver", client=("10.20.30.40", 5000)) as owner:
        assert login(owner, "pic.a").status_code == 303


def test_one_network_cannot_try_passwords_across_logins(world: World) -> None:
    from web import create_app

    with TestClient(create_app(), base_url="https://testserver", client=("10.9.9.9", 5000)) as guesser:
        statuses = [login(guesser, f"pegawai{n}", "tebakan-123").status_code for n in range(31)]
        assert statuses[:30] == [401] * 30 and statuses[30] == 429
        assert login(guesser, "pic.a").status_code == 429  # every login, from this network


def test_login_and_posts_need_the_csrf_token(world: World, client: TestClient) -> None:
    client.get("/pic/login")
    refused = client.post("/pic/login", data={"login": "pic.a", "password": PASSWORD, "csrf": "palsu"},
                          follow_redirects=False)
    assert refused.status_code == 403
    login(client, "pic.a")
    url = f"/pic/c/{world.a.campaign.id}/unit/{world.a.units[0].id}/pengingat"
    assert client.post(url, data={"csrf": "palsu"}, follow_redirects=False).status_code == 403
    assert client.post(url, follow_redirects=False).status_code == 403


def test_forged_or_tampered_cookie_is_anonymous(world: World, client: TestClient) -> None:
    login(client, "pic.a")
    value = client.cookies.get(COOKIE)
    assert value
    client.cookies.clear()
    client.cookies.set(COOKIE, value)  # the genuine cookie, set the same way, works ...
    assert client.get("/pic", follow_redirects=False).headers["location"].startswith("/pic/c/")
    client.cookies.clear()
    client.cookies.set(COOKIE, value[:-3] + "abc")  # ... a tampered one does not
    assert client.get("/pic", follow_redirects=False).headers["location"].startswith("/pic/login")


def test_open_redirect_is_refused(world: World, client: TestClient) -> None:
    page = client.get("/pic/login?next=https://evil.example/")
    assert 'value="/pic"' in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/pic/login", data={"login": "pic.a", "password": PASSWORD, "csrf": csrf,
                                                "next": "//evil.example"}, follow_redirects=False)
    assert response.headers["location"] == "/pic"


def test_admin_manages_users_and_password_change_logs_out(world: World, as_user, session: Session) -> None:
    other = TestClient(client_app := as_user("admin").app, base_url="https://testserver")
    assert login(other, "pic.a").status_code == 303
    admin = as_user("admin")
    csrf = csrf_of(admin, "/pic/admin/pengguna")
    added = admin.post("/pic/admin/pengguna", data={
        "csrf": csrf, "login": "pic.baru", "password": "sandi-baru-panjang", "role": "pic",
        "institution": str(world.a.inst.id), "name": "PIC Baru"}, follow_redirects=False)
    assert added.status_code == 303
    short = admin.post("/pic/admin/pengguna", data={
        "csrf": csrf, "login": "pic.pendek", "password": "pendek", "role": "pic",
        "institution": str(world.a.inst.id)})
    assert short.status_code == 422 and "minimal 10" in short.text
    changed = admin.post("/pic/admin/pengguna/pic.a/sandi", data={"csrf": csrf, "password": "sandi-lain-panjang"},
                         follow_redirects=False)
    assert changed.status_code == 303
    # the PIC's existing session no longer works
    assert other.get("/pic", follow_redirects=False).headers["location"].startswith("/pic/login")
    disabled = admin.post("/pic/admin/pengguna/pic.baru/status", data={"csrf": csrf, "active": "0"},
                          follow_redirects=False)
    assert disabled.status_code == 303
    assert login(TestClient(client_app, base_url="https://testserver"), "pic.baru",
                 "sandi-baru-panjang").status_code == 401
    session.expire_all()
    actions = set(session.exec(select(AuditLog.action).where(AuditLog.actor == "admin")))
    assert {"user.add", "user.set_password", "user.disable"} <= actions


def test_users_cli(world: World, db_url: str, session: Session) -> None:
    from cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["users", "add", "viewer.b", "--role", "viewer", "--institution",
                                 world.b.inst.code, "--password", "sandi-panjang-sekali"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["users", "add", "x.y", "--role", "pic", "--password", "sandi-panjang-sekali"])
    assert result.exit_code == 2 and "instansi" in result.output
    assert "viewer.b" in runner.invoke(app, ["users", "list"]).output
    assert runner.invoke(app, ["users", "set-password", "viewer.b", "--password", "sandi-lain-sekali"]).exit_code == 0
    assert runner.invoke(app, ["users", "disable", "viewer.b"]).exit_code == 0
    session.expire_all()
    user = session.exec(select(User).where(User.login == "viewer.b")).one()
    assert user.active is False and user.institution_id == world.b.inst.id
