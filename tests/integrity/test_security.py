"""Security headers on every response and the token-guessing limit on /s/*."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from core.security import CSP, SecurityMiddleware, SlidingWindowLimiter


def _app(limiter: SlidingWindowLimiter) -> FastAPI:
    app = FastAPI()

    @app.get("/s/{token}", response_class=HTMLResponse)
    def survey(token: str) -> HTMLResponse:
        if token != "good":
            return HTMLResponse("tidak ditemukan", status_code=404)
        return HTMLResponse("<p>ok</p>", headers={"Referrer-Policy": "unsafe-url"})

    @app.get("/pic")
    def pic() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(SecurityMiddleware, token_limiter=limiter)
    return app


def test_headers_on_every_response() -> None:
    client = TestClient(_app(SlidingWindowLimiter(5, 60)))
    for path in ("/pic", "/s/good", "/s/bad", "/nowhere"):
        r = client.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"  # overrides what a route set
        assert r.headers["x-frame-options"] == "DENY"
        assert "camera=()" in r.headers["permissions-policy"]
    assert client.get("/s/good").headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/pic").headers
    assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]


def test_hsts_only_over_https() -> None:
    app = _app(SlidingWindowLimiter(5, 60))
    # The test environment's PUBLIC_BASE_URL is https, so HSTS is always sent there.
    assert "max-age" in TestClient(app).get("/pic").headers["strict-transport-security"]
    mw = SecurityMiddleware(app, SlidingWindowLimiter(5, 60))
    mw.always_hsts = False
    names = [k for k, _ in mw._headers({"path": "/pic", "scheme": "http"})]
    assert b"strict-transport-security" not in names
    names = [k for k, _ in mw._headers({"path": "/pic", "scheme": "https"})]
    assert b"strict-transport-security" in names


def test_token_guessing_is_limited_per_ip_then_released() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(3, 60, clock=lambda: now[0])
    client = TestClient(_app(limiter))
    assert [client.get(f"/s/guess{i}").status_code for i in range(3)] == [404, 404, 404]
    blocked = client.get("/s/good")
    assert blocked.status_code == 429
    assert "Terlalu banyak percobaan" in blocked.text
    assert blocked.headers["retry-after"] == "300"
    assert client.get("/pic").status_code == 200  # other pages are not affected
    now[0] = 61.0
    assert client.get("/s/good").status_code == 200


def test_limiter_counts_per_key_and_bounds_memory() -> None:
    limiter = SlidingWindowLimiter(2, 10, clock=lambda: 0.0, max_keys=3)
    assert limiter.hit("a") and limiter.hit("a") and not limiter.hit("a")
    assert limiter.hit("b")
    for k in "cdef":
        limiter.hit(k)
    assert len(limiter._events) <= 3


def test_whole_app_sends_headers(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from web import create_app

    r = TestClient(create_app()).get("/api/openapi.json")
    assert r.status_code == 200
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
