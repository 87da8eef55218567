"""Preflight (`spibot check`, and `spibot serve` in ENV=prod): each misconfiguration is named with
its fix, and while any remains the WhatsApp senders' bulk lanes are held."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.config import Settings, get_settings, reset_settings
from dispatch import preflight
from dispatch.models import Hold, HoldScope, TemplateApproval
from dispatch.preflight import Problem, run_checks
from tests.fakes.twilio_api import FakeTwilio

GOOD_SID = "HX" + "a" * 32
PROD = {"ENV": "prod", "SECRET_KEY": "prod-secret-key-0123456789abcdef0123456789", "WHATSAPP_BACKEND": "twilio",
        "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef"}


def _settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {"whatsapp_backend": "twilio", "twilio_content_sid_invitation": GOOD_SID,
                            "twilio_content_sid_reminder": GOOD_SID, "twilio_content_sid_registration": GOOD_SID,
                            "whatsapp_daily_limit": 250}
    return Settings(**{**base, **kw})


def _settings_named(problems: list[Problem]) -> set[str]:
    return {p.setting for p in problems}


def _approve_all(session: Session, sid: str = GOOD_SID, category: str = "UTILITY") -> None:
    for name in ("invitation", "reminder", "registration"):
        session.merge(TemplateApproval(name=name, content_sid=sid, status="approved", category=category))
    session.commit()


def test_check_command_names_the_placeholder_content_sid(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import app

    for key, value in PROD.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    result = CliRunner().invoke(app, ["check", "--no-smtp"], terminal_width=200)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    [invitation] = [line for line in lines if "TWILIO_CONTENT_SID_INVITATION" in line]
    assert "HXinvitation" in invitation and "spibot templates --create" in invitation  # says how to fix it
    assert " / " in invitation  # Indonesian / English
    assert any("WHATSAPP_DAILY_LIMIT" in line for line in lines)
    assert "Semua pemeriksaan lulus" not in result.output


def test_check_command_passes(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import app

    monkeypatch.setenv("EMAIL_BACKEND", "sandbox")  # WhatsApp sandbox too (conftest): only the base URL counts
    reset_settings()
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "Semua pemeriksaan lulus / All checks passed" in result.output


def test_twilio_settings_are_checked(db_url: str, session: Session) -> None:
    _approve_all(session)
    assert run_checks(_settings(), smtp_login=False) == []
    bad = _settings(twilio_account_sid="ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", twilio_auth_token="placeholder-auth-token",
                    whatsapp_sender_internal="+628111919476", whatsapp_sender_external="whatsapp:0811",
                    twilio_content_sid_reminder="HXreminder0000000000000000000000")
    assert _settings_named(run_checks(bad, smtp_login=False)) == {
        "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "WHATSAPP_SENDER_INTERNAL", "WHATSAPP_SENDER_EXTERNAL",
        "TWILIO_CONTENT_SID_REMINDER"}


def test_daily_limit_must_be_set_zero_is_unlimited(db_url: str, session: Session) -> None:
    _approve_all(session)
    assert _settings_named(run_checks(_settings(whatsapp_daily_limit=None),
                                      smtp_login=False)) == {"WHATSAPP_DAILY_LIMIT"}
    assert run_checks(_settings(whatsapp_daily_limit=0), smtp_login=False) == []


def test_template_approvals_are_read_from_the_last_status(db_url: str, session: Session) -> None:
    [missing] = run_checks(_settings(twilio_content_sid_reminder="HX" + "b" * 32,
                                     twilio_content_sid_registration="HX" + "c" * 32,
                                     twilio_content_sid_invitation="HX" + "d" * 32), smtp_login=False)[:1]
    assert "spibot templates --status" in missing.message_en and "spibot templates --status" in missing.message_id
    _approve_all(session, category="MARKETING")
    problems = run_checks(_settings(), smtp_login=False)
    assert len(problems) == 3 and all("MARKETING" in p.message_en for p in problems)
    _approve_all(session)
    session.merge(TemplateApproval(name="invitation", content_sid=GOOD_SID, status="paused", category="UTILITY"))
    session.commit()
    [paused] = run_checks(_settings(), smtp_login=False)
    assert paused.setting == "TWILIO_CONTENT_SID_INVITATION" and "paused" in paused.message_id


@pytest.mark.parametrize("url", ["http://spi.kpk.go.id", "https://127.0.0.1:8000", "https://localhost",
                                 "https://10.1.2.3", "https://192.168.1.10/spi", "https://spibot.local"])
def test_public_base_url_must_be_public_https(url: str) -> None:
    problems = run_checks(Settings(public_base_url=url, env="test"), smtp_login=False)
    assert _settings_named(problems) == set()  # sandbox channels in test: not relevant
    problems = run_checks(Settings(public_base_url=url, email_backend="smtp"), smtp_login=False)
    assert _settings_named(problems) == {"PUBLIC_BASE_URL"}
    assert run_checks(Settings(public_base_url="https://spi.kpk.go.id", email_backend="smtp"), smtp_login=False) == []


def test_smtp_login(smtp_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_checks(get_settings()) == []  # connect + EHLO, no username
    refused = run_checks(get_settings().model_copy(update={"smtp_username": "spi", "smtp_password": "x"}))
    assert _settings_named(refused) == {"SMTP_USERNAME"}  # the test server offers no AUTH
    from tests.fixtures.server import free_port

    closed = run_checks(get_settings().model_copy(update={"smtp_port": free_port()}))
    assert _settings_named(closed) == {"SMTP_HOST"} and "SMTP_PORT" in closed[0].message_en
    assert run_checks(get_settings().model_copy(update={"smtp_port": free_port()}), smtp_login=False) == []


def _preflight_holds(session: Session) -> list[Hold]:
    session.expire_all()
    return list(session.exec(select(Hold).where(Hold.scope == HoldScope.sender, Hold.code == "preflight")))


def test_start_holds_every_sender_while_a_check_fails(db_url: str, session: Session,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in PROD.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    settings = get_settings()
    problems = preflight.at_start(settings)  # placeholder Content SIDs, no WHATSAPP_DAILY_LIMIT
    assert "TWILIO_CONTENT_SID_INVITATION" in _settings_named(problems)
    held = _preflight_holds(session)
    assert {h.target for h in held} == {settings.whatsapp_sender_internal, settings.whatsapp_sender_external}
    assert "TWILIO_CONTENT_SID_INVITATION" in held[0].reason
    preflight.at_start(settings)  # a second failing start: still one hold per sender
    assert len(_preflight_holds(session)) == 2

    from dispatch import holds

    holds.hold(session, HoldScope.sender, settings.whatsapp_sender_internal + "9", reason="63038", code="63038")
    session.commit()
    preflight.at_start(settings, checks=lambda s: [])  # fixed: the next start lifts only its own holds
    assert _preflight_holds(session) == []
    assert [h.code for h in holds.listed(session)] == ["63038"]


def test_serve_in_prod_runs_the_preflight(db_url: str, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    import app.serve
    import scheduler
    from app.serve import serve
    from app.tuning import FREEZE_GC_ENV

    for key, value in PROD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(FREEZE_GC_ENV, "0")  # serve sets it; restored after the test
    reset_settings()
    started: list[bool] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(True))
    monkeypatch.setattr(scheduler, "start_background", lambda **kw: scheduler.Background())
    monkeypatch.setattr(app.serve, "configure_logging", lambda level="INFO": None)
    serve(host=None, port=None, scheduler=False, worker=False, workers=1)
    assert started and len(_preflight_holds(session)) == 2


def test_everything_configured_passes_against_the_fake(db_url: str, session: Session, fake_twilio: FakeTwilio,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dispatch.templates import sync_approvals

    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", "2000")
    reset_settings()
    assert _settings_named(run_checks(get_settings())) == {"TWILIO_CONTENT_SID_INVITATION",
                                                           "TWILIO_CONTENT_SID_REMINDER",
                                                           "TWILIO_CONTENT_SID_REGISTRATION"}  # not synced yet
    sync_approvals(session)
    session.commit()
    assert run_checks(get_settings()) == []
