"""Errors on browser pages are a small Indonesian HTML page (with the security headers); the API
and JSON routes keep answering JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from core.errorpages import install_error_pages
from core.security import install_security
from tests.monitor.conftest import World


def _is_error_page(response: Any, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text[:200])
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="id">' in response.text
    assert "detail" not in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in response.headers


def test_browser_routes_answer_an_html_page(world: World, as_user: Any) -> None:
    pic = as_user("pic.a")
    _is_error_page(pic.get("/pic/c/abc"), 422)  # a path id that is not a number
    page = pic.get("/pic/c/abc")
    assert "tidak valid" in page.text and "int_parsing" not in page.text
    _is_error_page(pic.get(f"/pic/c/{world.b.campaign.id}"), 404)  # another institution's campaign
    _is_error_page(pic.get(f"/pic/c/{world.a.campaign.id}/tidak-ada"), 404)
    _is_error_page(pic.get("/pic/tidak-ada"), 404)
    _is_error_page(pic.post("/pic/logout-tidak-ada"), 404)
    _is_error_page(pic.get("/s/tidak-ada-token-seperti-ini"), 404)
    missing = pic.get("/pic/tidak-ada")
    assert "Halaman tidak ditemukan" in missing.text and "Not Found" not in missing.text
    assert missing.headers["cache-control"] == "no-store"


def test_method_not_allowed_and_api_routes(world: World, as_user: Any) -> None:
    pic = as_user("pic.a")
    wrong = pic.put("/pic/login")
    _is_error_page(wrong, 405)
    assert "allow" in wrong.headers
    live = pic.get("/pic/c/abc/live.json")
    assert live.status_code == 422 and live.headers["content-type"] == "application/json"
    assert live.json()["detail"]
    api = pic.get("/api/tidak-ada")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    twilio = pic.post("/twilio/status", data={"MessageSid": "SM1"})
    assert twilio.headers["content-type"] == "application/json"


def _app() -> FastAPI:
    router = APIRouter()

    @router.get("/pic/rusak")
    def broken_page() -> None:
        raise RuntimeError("boom")

    @router.get("/api/rusak")
    def broken_api() -> None:
        raise RuntimeError("boom")

    app = FastAPI()
    app.include_router(router)
    install_error_pages(app)
    install_security(app)
    return app


def test_an_unhandled_error_is_a_500_page_with_the_security_headers() -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        page = client.get("/pic/rusak")
        _is_error_page(page, 500)
        assert "Terjadi kesalahan" in page.text and "boom" not in page.text
        assert page.headers["cache-control"] == "no-store"
        api = client.get("/api/rusak")
        assert api.status_code == 500 and api.json() == {"detail": "Internal Server Error"}
        assert api.headers["x-content-type-options"] == "nosniff"
