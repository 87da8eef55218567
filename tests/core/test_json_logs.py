"""LOG_FORMAT=json: one JSON object a line, contact data masked (tracebacks too), and the
request id of the HTTP request in every record written while it is handled, echoed in the
X-Request-ID header; a client's own X-Request-ID is believed only from a trusted proxy."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from core.config import reset_settings
from core.masking import configure_logging

probe = APIRouter()


@probe.get("/_probe_log")
def _probe_log() -> dict[str, str]:
    logging.getLogger("spibot.test").warning("reply to whatsapp:+6281334481749 / budi.s@contoh.go.id")
    return {"ok": "1"}


@pytest.fixture
def json_logging(capfd: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.CaptureFixture[str]]:
    monkeypatch.setenv("LOG_FORMAT", "json")
    reset_settings()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        yield capfd  # each test calls configure_logging itself (its handler takes the test's stderr)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        reset_settings()


def records(capfd: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    out, err = capfd.readouterr()
    return [json.loads(line) for line in (out + err).splitlines() if line.startswith("{")]


def app_with_probe(monkeypatch: pytest.MonkeyPatch, trusted: str = "") -> TestClient:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", trusted)
    reset_settings()
    from web import create_app

    app = create_app()
    app.include_router(probe)
    return TestClient(app, client=("10.0.0.5", 40000))


def test_json_lines_are_masked_and_carry_the_request_id(json_logging: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves: a log line inside a request is JSON with the same request id the response
    header carries, and the phone number and email are masked on the JSON path."""
    configure_logging("INFO")
    r = app_with_probe(monkeypatch).get("/_probe_log")
    rid = r.headers["x-request-id"]
    assert len(rid) == 32
    [rec] = [x for x in records(json_logging) if x["logger"] == "spibot.test"]
    assert rec["request_id"] == rid and rec["level"] == "WARNING"
    assert "81334481749" not in str(rec["msg"]) and "budi.s@" not in str(rec["msg"])
    assert str(rec["ts"]).endswith("+00:00")


def test_a_traceback_is_masked_too(json_logging: pytest.CaptureFixture[str]) -> None:
    """Proves the exception text (which the masking filter does not see) is masked on the JSON path."""
    configure_logging("INFO")
    try:
        raise ValueError("bad number +6281334481749")
    except ValueError:
        logging.getLogger("spibot.test").exception("failed")
    [rec] = [x for x in records(json_logging) if x["logger"] == "spibot.test"]
    assert "ValueError" in str(rec["exc"]) and "81334481749" not in str(rec["exc"])
    assert rec["request_id"] is None  # outside a request


def test_request_id_from_a_trusted_proxy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves: a client's own X-Request-ID is replaced by a fresh one; the same header from a
    proxy of FORWARDED_ALLOW_IPS is kept; a malformed one is replaced even from the proxy."""
    given = {"X-Request-ID": "req-0123456789abcdef"}
    direct = app_with_probe(monkeypatch).get("/healthz", headers=given)
    assert direct.headers["x-request-id"] != "req-0123456789abcdef"
    proxied = app_with_probe(monkeypatch, trusted="10.0.0.5").get("/healthz", headers=given)
    assert proxied.headers["x-request-id"] == "req-0123456789abcdef"
    bad = app_with_probe(monkeypatch, trusted="10.0.0.5").get("/healthz", headers={"X-Request-ID": "a b<script>"})
    assert bad.headers["x-request-id"] != "a b<script>" and len(bad.headers["x-request-id"]) == 32


def test_text_stays_the_default(capfd: pytest.CaptureFixture[str]) -> None:
    """Proves LOG_FORMAT defaults to text (developers read it), masked as before."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        logging.getLogger("spibot.test").warning("to +6281334481749")
        out, err = capfd.readouterr()
        line = [x for x in (out + err).splitlines() if "spibot.test" in x][0]
        assert not line.startswith("{") and "WARNING spibot.test: to +6281" in line and "81334481749" not in line
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
