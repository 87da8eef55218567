"""Security headers on every response and the token-guessing limit on /s/*."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from core.ratewindow import MemoryWindow, RateWindow, RedisWindow
from core.security import CSP, SecurityMiddleware
from tests.fixtures.redis import RedisServer


def _app(window: RateWindow, miss_limit: int = 5, miss_window: float = 60) -> FastAPI:
    app = FastAPI()

    @app.get("/s/{token}", response_class=HTMLResponse)
    def survey(token: str) -> HTMLResponse:
        if token != "good":
            return HTMLResponse("tidak ditemukan", status_code=404)
        return HTMLResponse("<p>ok</p>", headers={"Referrer-Policy": "unsafe-url"})

    @app.get("/pic")
    def pic() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(SecurityMiddleware, window=window, miss_limit=miss_limit,
                       miss_window=miss_window)
    return app


def test_headers_on_every_response() -> None:
    client = TestClient(_app(MemoryWindow()))
    for path in ("/pic", "/s/good", "/s/bad", "/nowhere"):
        r = client.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"  # overrides what a route set
        assert r.headers["x-frame-options"] == "DENY"
        assert "camera=()" in r.headers["permissions-policy"]
    assert client.get("/s/good").headers["cache-control"] == "no-store"
    assert client.get("/pic").headers["cache-control"] == "no-store"  # the dashboard holds contacts
    assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]


def test_hsts_only_over_https() -> None:
    app = _app(MemoryWindow())
    # The test environment's PUBLIC_BASE_URL is https, so HSTS is always sent there.
    assert "max-age" in TestClient(app).get("/pic").headers["strict-transport-security"]
    mw = SecurityMiddleware(app, MemoryWindow())
    mw.always_hsts = False
    names = [k for k, _ in mw._headers({"path": "/pic", "scheme": "http"})]
    assert b"strict-transport-security" not in names
    names = [k for k, _ in mw._headers({"path": "/pic", "scheme": "https"})]
    assert b"strict-transport-security" in names


def test_token_guessing_is_limited_per_ip_then_released() -> None:
    now = [0.0]
    window = MemoryWindow(clock=lambda: now[0])
    client = TestClient(_app(window, miss_limit=3, miss_window=60))
    assert client.get("/s/good").status_code == 200  # found links are not counted
    assert [client.get(f"/s/guess{i}").status_code for i in range(3)] == [404, 404, 404]
    blocked = client.get("/s/guess3")
    assert blocked.status_code == 429
    assert "Terlalu banyak percobaan" in blocked.text and "tidak ditemukan" not in blocked.text
    assert blocked.headers["retry-after"] == "300"
    assert blocked.headers["x-frame-options"] == "DENY"
    assert client.get("/pic").status_code == 200  # other pages are not affected
    assert window.count("tok|testclient", 60) == 3
    now[0] = 61.0
    assert client.get("/s/guess4").status_code == 404


def test_a_valid_link_is_never_blocked_by_the_guessing_limit() -> None:
    """One carrier-NAT address shared by a neighbourhood: others mistyped links, this
    respondent's own link still opens (and is not counted), while guessing stays refused."""
    window = MemoryWindow()
    client = TestClient(_app(window, miss_limit=3, miss_window=60))
    assert [client.get(f"/s/typo{i}").status_code for i in range(5)] == [404, 404, 404, 429, 429]
    for _ in range(5):
        opened = client.get("/s/good")
        assert opened.status_code == 200 and opened.text == "<p>ok</p>"
    assert client.get("/s/typo9").status_code == 429
    assert window.count("tok|testclient", 60) == 3


def test_token_guessing_is_counted_once_for_all_workers_through_redis(
    redis_server: RedisServer,
) -> None:
    # Two apps with their own Redis clients: two web workers (or machines) sharing one Redis.
    workers = [RedisWindow(redis_server.url, "k" * 32, prefix=redis_server.prefix) for _ in "ab"]
    first, second = (TestClient(_app(w, miss_limit=4, miss_window=60)) for w in workers)
    assert [first.get(f"/s/guess{i}").status_code for i in range(2)] == [404, 404]
    assert [second.get(f"/s/guess{i}").status_code for i in range(2)] == [404, 404]
    assert first.get("/s/guess9").status_code == 429
    assert second.get("/s/guess9").status_code == 429
    assert first.get("/s/good").status_code == 200  # a valid link still opens
    assert all(w.fallback.size() == 0 for w in workers)  # counted in Redis, not in memory
    for w in workers:
        w.close()


def test_the_app_counts_in_the_process_window(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from core.config import reset_settings
    from core.ratewindow import rate_window

    monkeypatch.setenv("TOKEN_MISS_LIMIT", "2")
    reset_settings()
    try:
        app = FastAPI()

        @app.get("/s/{token}")
        def missing(token: str) -> HTMLResponse:
            return HTMLResponse("tidak ditemukan", status_code=404)

        app.add_middleware(SecurityMiddleware)
        client = TestClient(app)
        assert [client.get(f"/s/x{i}").status_code for i in range(3)] == [404, 404, 429]
        assert rate_window().count("tok|testclient", 600) == 2
    finally:
        monkeypatch.delenv("TOKEN_MISS_LIMIT")
        reset_settings()


def test_whole_app_sends_headers(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from web import create_app

    r = TestClient(create_app()).get("/api/openapi.json")
    assert r.status_code == 200
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
