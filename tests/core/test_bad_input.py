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


@pytest.mark.parametrize("path", ["/daftar/KAB/UNIT", "/bukutamu/KAB/UNIT", "/pic/login",
                                  "/pic/login/kode", "/s/sebuah-token", "/api/responses/submissions"])
def test_every_body_is_capped_multipart_and_json_too(client: TestClient, path: str) -> None:
    """Issue #21: one 200 MB POST to /daftar took a server from 298 MB to 1 GB."""
    big = "x" * 300_000
    assert client.post(path, files={"nama": (None, big)}).status_code == 413  # multipart
    assert client.post(path, content=big.encode(), headers={"content-type": "application/json"}
                       ).status_code == 413
    assert client.post(path, data={"nama": big}).status_code == 413  # urlencoded


def test_a_body_announced_too_long_is_refused_before_it_is_read(client: TestClient) -> None:
    def endless() -> Iterator[bytes]:
        yield b"nama=x"
        raise AssertionError("the body was read")

    response = client.post("/daftar/KAB/UNIT", content=endless(), headers={
        "content-type": "application/x-www-form-urlencoded", "content-length": str(200 * 1024 * 1024)})
    assert response.status_code == 413


def test_control_characters_in_a_multipart_form_are_refused(client: TestClient) -> None:
    response = client.post("/daftar/KAB/UNIT", files={"nama": (None, "Siti\x00Rahma")})
    assert response.status_code == 400
    assert client.post("/pic/login", files={"login": (None, "admin\x00")}).status_code == 400


def test_the_dashboard_upload_keeps_its_own_larger_cap(client: TestClient) -> None:
    from core.security import FORM_BODY_LIMIT, OWN_BODY_LIMIT

    assert OWN_BODY_LIMIT.match("/pic/c/1/data/unggah")
    response = client.post("/pic/c/1/data/unggah", files={"berkas": ("a.xlsx", b"x" * (FORM_BODY_LIMIT + 1))},
                           follow_redirects=False)
    assert response.status_code != 413  # reached the route (which asks for a login first)


def test_a_trailing_slash_never_redirects_to_the_host_header(client: TestClient) -> None:
    for path in ("/pic/", "/pic/login/", "/daftar/KAB/UNIT/"):
        response = client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
        assert "evil.example" not in response.headers.get("location", ""), path
        assert response.status_code < 500


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
    assert "location" not in production.get("/pic/", follow_redirects=False).headers  # not redirected
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
