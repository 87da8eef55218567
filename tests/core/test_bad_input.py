"""No 500 from input: a NUL byte or control character in a path, a query string or a form is
refused (400, an Indonesian page with the security headers) before any route or the database
sees it; a urlencoded form body has a size cap (413). Ordinary input still goes through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app(), base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path", [
    "/daftar/KAB%00", "/daftar/KAB%00/UNIT", "/bukutamu/KAB%00/UNIT", "/qr/KAB%00/U/poster.pdf",
    "/s/abc%00def", "/pic/login?next=%00", "/daftar/KAB%1b", "/pic/c/1%7f",
])
def test_control_characters_in_urls_are_refused(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert "karakter yang tidak diizinkan" in response.text
    assert response.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in response.headers


def test_control_characters_in_a_form_are_refused(client: TestClient) -> None:
    response = client.post("/pic/login", data={"login": "admin\x00", "password": "x"})
    assert response.status_code == 400
    response = client.post("/daftar/KAB/UNIT", data={"nama": "Siti\x1bRahma"})
    assert response.status_code == 400


def test_a_huge_form_body_is_refused(client: TestClient) -> None:
    response = client.post("/daftar/KAB/UNIT", data={"nama": "x" * 300_000})
    assert response.status_code == 413


def test_ordinary_input_goes_through(client: TestClient) -> None:
    login = client.post("/pic/login", data={"login": "tidak-ada", "password": "salah\ttab"})
    assert login.status_code not in (400, 413, 500)  # the route itself answered
    assert client.get("/pic/login?next=%2Fpic").status_code == 200


def test_a_respondents_message_with_a_control_character_reaches_the_bot(client: TestClient) -> None:
    from tests.bot.helpers import inbound_form, post_signed

    response = post_signed(client, inbound_form("+6281234567890", "Isi\x00 Survei\x1b"))
    assert response.status_code == 200  # stored and answered later, never refused or a 500


def test_dashboard_pages_are_never_cached(client: TestClient) -> None:
    assert client.get("/pic/login").headers["cache-control"] == "no-store"


@pytest.fixture
def production(db_url: str) -> Iterator[TestClient]:
    """The app built with ENV=prod, reached at PUBLIC_BASE_URL's host; the test settings after."""
    from core.config import reset_settings
    from web import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ENV", "prod")
        reset_settings()
        try:
            with TestClient(create_app(), base_url="https://spi.test.example") as c:
                yield c
        finally:
            mp.undo()
            reset_settings()


def test_api_docs_are_off_in_production(client: TestClient, production: TestClient) -> None:
    assert production.get("/api/docs").status_code == 404
    assert production.get("/api/openapi.json").status_code == 404
    assert client.get("/api/docs").status_code == 200  # outside production


def test_the_dashboard_script_stays_cacheable(client: TestClient) -> None:
    assert client.get("/pic/static/live.js").headers["cache-control"] == "public, max-age=3600"


def test_in_production_another_host_is_refused_not_reflected(production: TestClient) -> None:
    assert production.get("/pic/", follow_redirects=False).headers.get("location", "").startswith(
        ("https://spi.test.example/", "/"))
    evil = production.get("/pic/", headers={"host": "evil.example"}, follow_redirects=False)
    assert evil.status_code == 400 and "evil.example" not in evil.headers.get("location", "")


@pytest.mark.parametrize(("allowed", "proxy"), [("", False), ("10.0.0.5", True)])
def test_proxy_headers_only_from_forwarded_allow_ips(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                                     allowed: str, proxy: bool) -> None:
    import uvicorn

    import app.serve
    import scheduler
    from app.tuning import FREEZE_GC_ENV
    from core.config import reset_settings

    monkeypatch.setenv("FORWARDED_ALLOW_IPS", allowed)
    monkeypatch.setenv(FREEZE_GC_ENV, "0")
    reset_settings()
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(scheduler, "start_background", lambda **kw: scheduler.Background())
    monkeypatch.setattr(app.serve, "configure_logging", lambda level="INFO": None)
    try:
        app.serve.serve(host=None, port=None, scheduler=False, worker=False, workers=1)
    finally:
        reset_settings()
    assert seen["proxy_headers"] is proxy and seen["forwarded_allow_ips"] == (allowed or None)
