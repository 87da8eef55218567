"""The admin's optional TOTP second factor: enrol (otpauth URI + QR, confirmed by a first code),
then login asks for the code; codes count against the login limits and work once."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.audit import AuditLog
from core.clock import utcnow
from monitor.models import User
from tests.monitor.conftest import World, csrf_of, login


def _enrol(admin: TestClient) -> pyotp.TOTP:
    page = admin.get("/pic/akun/2fa")
    assert page.status_code == 200
    uri = re.search(r"<code>(otpauth://[^<]+)</code>", page.text)
    assert uri and 'src="data:image/svg+xml;base64,' in page.text
    parsed = urlsplit(uri.group(1).replace("&amp;", "&"))
    secret = parse_qs(parsed.query)["secret"][0]
    assert "admin" in parsed.path and secret in page.text
    # the QR code is an SVG image of that URI
    svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    assert svg.startswith(b"<?xml") or b"<svg" in svg[:200]
    assert admin.get("/pic/akun/2fa").text.count(secret) >= 1  # a reload shows the same secret
    return pyotp.TOTP(secret)


def _code(otp: pyotp.TOTP, steps: int = 0) -> str:
    return otp.at(utcnow() + timedelta(seconds=30 * steps))


def _code_form(client: TestClient, code: str) -> Any:
    page = client.get("/pic/login/kode")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text[:300]
    return client.post("/pic/login/kode", data={"code": code, "csrf": csrf.group(1), "next": "/pic"},
                       follow_redirects=False)


def test_enrol_then_login_asks_for_the_code(world: World, as_user: Any, client: TestClient,
                                            session: Session) -> None:
    admin = as_user("admin")
    otp = _enrol(admin)
    csrf = csrf_of(admin, "/pic/akun/2fa")
    wrong = admin.post("/pic/akun/2fa", data={"csrf": csrf, "code": "000000"})
    assert wrong.status_code == 422 and "salah" in wrong.text
    first = _code(otp)
    ok = admin.post("/pic/akun/2fa", data={"csrf": csrf, "code": first}, follow_redirects=False)
    assert ok.status_code == 303
    assert "aktif" in admin.get(ok.headers["location"]).text

    fresh = TestClient(client.app, base_url="https://testserver")
    step_one = login(fresh, "admin")
    assert step_one.status_code == 303 and step_one.headers["location"].startswith("/pic/login/kode")
    assert fresh.get("/pic", follow_redirects=False).headers["location"].startswith("/pic/login")  # not in yet
    assert _code_form(fresh, first).status_code == 401  # the code used to enrol works once
    assert _code_form(fresh, _code(otp, 1)).status_code == 303  # the next one (clock drift) is fine
    assert fresh.get("/pic", follow_redirects=False).status_code == 200
    session.expire_all()
    actions = set(session.exec(select(AuditLog.action).where(AuditLog.actor == "admin")))
    assert "user.totp_enable" in actions


def test_the_code_form_needs_the_password_first(world: World, client: TestClient) -> None:
    assert client.get("/pic/login/kode", follow_redirects=False).headers["location"].startswith("/pic/login")
    csrf = csrf_of(client, "/pic/login")
    refused = client.post("/pic/login/kode", data={"code": "123456", "csrf": csrf}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/pic/login")


def test_wrong_codes_are_limited_like_passwords(world: World, as_user: Any, client: TestClient) -> None:
    admin = as_user("admin")
    otp = _enrol(admin)
    csrf = csrf_of(admin, "/pic/akun/2fa")
    assert admin.post("/pic/akun/2fa", data={"csrf": csrf, "code": _code(otp)}, follow_redirects=False
                      ).status_code == 303
    guesser = TestClient(client.app, base_url="https://testserver", client=("10.7.7.7", 5000))
    assert login(guesser, "admin").status_code == 303  # a stolen password ...
    statuses = [_code_form(guesser, f"{n:06d}").status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]  # ... and 5 wrong codes: this network must wait
    assert _code_form(guesser, _code(otp, 1)).status_code == 429  # even with the right code
    owner = TestClient(client.app, base_url="https://testserver", client=("10.8.8.8", 5000))
    assert login(owner, "admin").status_code == 303  # the owner, elsewhere, is not locked out
    assert _code_form(owner, _code(otp, 1)).status_code == 303


def test_disable_needs_a_current_code(world: World, as_user: Any, session: Session) -> None:
    admin = as_user("admin")
    otp = _enrol(admin)
    csrf = csrf_of(admin, "/pic/akun/2fa")
    admin.post("/pic/akun/2fa", data={"csrf": csrf, "code": _code(otp)})
    assert admin.post("/pic/akun/2fa/matikan", data={"csrf": csrf, "code": "000000"}).status_code == 422
    done = admin.post("/pic/akun/2fa/matikan", data={"csrf": csrf, "code": _code(otp, 1)},
                      follow_redirects=False)
    assert done.status_code == 303
    session.expire_all()
    user = session.exec(select(User).where(User.login == "admin")).one()
    assert user.totp_secret is None and user.totp_enabled_at is None


def test_pics_have_no_enrolment_page(world: World, as_user: Any) -> None:
    assert as_user("pic.a").get("/pic/akun/2fa").status_code == 403


def test_required_for_admins_sends_them_to_enrol(world: World, as_user: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from core.config import reset_settings

    monkeypatch.setenv("MONITOR_ADMIN_TOTP_REQUIRED", "true")
    reset_settings()
    try:
        admin = as_user("admin")
        assert admin.get("/pic", follow_redirects=False).headers["location"] == "/pic/akun/2fa"
        otp = _enrol(admin)
        csrf = csrf_of(admin, "/pic/akun/2fa")
        admin.post("/pic/akun/2fa", data={"csrf": csrf, "code": _code(otp)})
        assert admin.get("/pic", follow_redirects=False).status_code == 200
        pic = as_user("pic.a")  # PICs are not asked
        assert pic.get("/pic", follow_redirects=False).headers["location"].startswith("/pic/c/")
    finally:
        monkeypatch.delenv("MONITOR_ADMIN_TOTP_REQUIRED")
        reset_settings()


def test_cli_resets_a_lost_second_factor(world: World, as_user: Any, client: TestClient,
                                         session: Session) -> None:
    from typer.testing import CliRunner

    from cli import app

    admin = as_user("admin")
    otp = _enrol(admin)
    admin.post("/pic/akun/2fa", data={"csrf": csrf_of(admin, "/pic/akun/2fa"), "code": _code(otp)})
    result = CliRunner().invoke(app, ["users", "reset-2fa", "admin"])
    assert result.exit_code == 0, result.output
    fresh = TestClient(client.app, base_url="https://testserver")
    assert login(fresh, "admin").headers["location"] == "/pic"  # the password alone again
