"""The interviewer app in headless Chromium (issue 23's demonstration): load it and log in with
the PIN online, go offline, do three interviews (one refusal), close the page and open the app
again with no network (the service worker serves the shell, IndexedDB still holds the three),
go online, sync: the server holds exactly those answers once. Also the shell's page weight."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, col, func, select

from capi.models import CapiSubmission
from capi.router import FILES, STATIC
from responses import Response, ResponseLink
from tests.capi.conftest import PIN, Field
from tests.fixtures.browser import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open(page: Any, url: str) -> Any:
    response = page.goto(f"{url}/capi/")
    page.wait_for_selector("body[data-ready='1']")
    return response


def _interview(page: Any, name: str) -> None:
    """Answer every shown question with its first option (follow-ups appear as they become due)."""
    page.locator("li", has_text=name).get_by_role("button", name="Wawancara").click()
    page.wait_for_selector("#layar-wawancara:not([hidden])")
    page.get_by_role("button", name="Simpan wawancara").click()
    assert "belum dijawab" in page.locator("#kurang").inner_text()  # an empty form is not saved
    for _ in range(300):
        todo = page.locator("fieldset:not([hidden]):not(:has(input:checked))")
        if todo.count() == 0:
            break
        todo.first.locator("input").first.check()
    page.get_by_role("button", name="Simpan wawancara").click()
    page.wait_for_selector("#layar-daftar:not([hidden])")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: the same API in test_sync_api.py
def test_three_offline_interviews_survive_a_reopen_and_sync_once(live_app: Any, browser: Any, world: Field,
                                                                  session: Session) -> None:
    """Proves the offline round trip end to end; the second sync proves a repeat sends and
    stores nothing (the server-side resend of one batch: test_sync_api.py)."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="id-ID")
    try:
        _round_trip(context, live_app.url, world, session)
    finally:
        context.close()


def _round_trip(context: Any, url: str, world: Field, session: Session) -> None:
    page = context.new_page()
    names = [a.id for a in world.handed]
    _open(page, url)
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)") is True
    page.fill("#masuk-login", "wawan")
    page.fill("#masuk-pin", PIN)
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_selector("#layar-daftar:not([hidden])")
    people = page.locator("#daftar-responden li").all_inner_texts()
    assert len(people) == 3 and all("Dinas Kependudukan" in p for p in people)
    first, second, third = (p.split(" — ")[0].split("\n")[0] for p in people)

    context.set_offline(True)
    _interview(page, first)
    _interview(page, second)
    page.locator("li", has_text=third).get_by_role("button", name="Menolak").click()
    page.select_option("#alasan", "tidak_bersedia")
    page.get_by_role("button", name="Simpan penolakan").click()
    page.wait_for_selector("#layar-daftar:not([hidden])")
    assert page.locator("#belum").inner_text() == "Belum tersinkron: 3"
    page.get_by_role("button", name="Sinkronkan").click()  # no network: kept, and said so
    expect(page.locator("#pesan")).to_contain_text("Tidak ada sinyal")
    page.close()

    # Reopened with no network: the shell comes from the service worker, the data from IndexedDB.
    page = context.new_page()
    response = _open(page, url)
    assert response is not None and response.from_service_worker
    assert page.locator("#belum").inner_text() == "Belum tersinkron: 3"
    assert page.locator("#daftar-responden li").all_inner_texts() == ["Tidak ada responden yang menunggu."]
    session.rollback()
    assert session.exec(select(func.count()).select_from(CapiSubmission)).one() == 0

    context.set_offline(False)
    page.get_by_role("button", name="Sinkronkan").click()
    expect(page.locator("#belum")).to_have_text("Belum tersinkron: 0", timeout=15_000)
    expect(page.locator("#pesan")).to_contain_text("3 terkirim")
    # The refused respondent is not handed out again (the bundle was refreshed by the sync).
    assert page.locator("#daftar-responden li").all_inner_texts() == ["Tidak ada responden yang menunggu."]
    page.get_by_role("button", name="Sinkronkan").click()  # nothing left to send: nothing new stored
    expect(page.locator("#pesan")).to_contain_text("0 terkirim")

    session.rollback()
    rows = session.exec(select(CapiSubmission).order_by(col(CapiSubmission.id))).all()
    assert sorted(r.outcome for r in rows) == ["done", "done", "refused"]
    assert len({r.submission_id for r in rows}) == 3
    capi_responses = session.exec(select(Response).where(Response.source == "capi")).all()
    assert len(capi_responses) == 2 and all(r.status == "submitted" for r in capi_responses)
    linked = session.exec(select(ResponseLink.assignment_id).where(
        col(ResponseLink.response_id).in_([r.id for r in capi_responses]))).all()
    refused = next(r for r in rows if r.outcome == "refused")
    assert refused.response_id is None and refused.refusal_reason == "tidak_bersedia"
    assert len(set(linked)) == 2 and set(linked) <= set(names)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "capi_synced.png"), full_page=True)


def test_the_shell_and_a_full_questionnaire_weigh_under_300_kb(client: Any, world: Field,
                                                               app_session: dict[str, str]) -> None:
    """Proves the page-weight budget: every shell file plus the whole bundle (questionnaires of
    two groups, respondents, counters) is under 300 KB uncompressed; each file has its type."""
    shell = sum((STATIC / name).stat().st_size for name in FILES)
    for name, kind in FILES.items():
        path = "/capi/" if name == "index.html" else f"/capi/{name}"
        res = client.get(path)
        assert res.status_code == 200 and res.headers["content-type"] == kind
    bundle = client.get("/api/capi/bundle", headers=app_session).content
    assert shell + len(bundle) < 300 * 1024, (shell, len(bundle))
    assert client.get("/capi/../../web.py").status_code == 404
