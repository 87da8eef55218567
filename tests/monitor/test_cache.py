"""Cached page figures (monitor.cache): the integrity page's index with and without flagged
responses and the score report are computed once per data version, and change as soon as their
data does (a submission, a flag, a reviewer's decision, correction points)."""

from __future__ import annotations

import io
from csv import reader
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.clock import utcnow
from monitor.cache import CACHE, DataVersion, VersionedCache
from monitor.users import add_user
from responses.models import Response
from tests.integrity.helpers import World, build_world
from tests.monitor.conftest import PASSWORD, login


def _index_rows(client: TestClient, campaign_id: int) -> dict[str, list[str]]:
    csv = client.get(f"/pic/c/{campaign_id}/integritas/export/indeks.csv")
    assert csv.status_code == 200
    rows = list(reader(io.StringIO(csv.content.decode("utf-8-sig"))))[1:]
    return {r[0].strip(): r[1:] for r in rows}


def _resubmit_copy(session: Session, w: World) -> Response:
    """A new submitted response of the campaign (the same answers as an existing one)."""
    src = w.responses[-1]
    row = Response(campaign_id=src.campaign_id, institution_id=src.institution_id, unit_id=src.unit_id,
                   group=src.group, respondent_group=src.respondent_group,
                   questionnaire_year=src.questionnaire_year, status="submitted", answers=dict(src.answers),
                   page_times=dict(src.page_times), submitted_at=utcnow(), updated_at=utcnow())
    session.add(row)
    session.commit()
    return row


@pytest.fixture
def admin(session: Session, client: TestClient) -> TestClient:
    add_user(session, login="admin", password=PASSWORD, role="admin", institution_id=None, actor="test")
    session.commit()
    assert login(client, "admin").status_code == 303
    return client


def test_index_is_cached_and_follows_submissions_flags_decisions_and_corrections(
        session: Session, admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.integrity_page
    from integrity.service import flag_campaign, record_review
    from responses.scoring import set_correction

    calls: list[bool] = []
    real = monitor.integrity_page.score_institution

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(bool(kwargs.get("include_flagged", True)))
        return real(*args, **kwargs)

    monkeypatch.setattr(monitor.integrity_page, "score_institution", counting)
    w = build_world(session, n=40)
    session.commit()
    cid = w.campaign.id
    assert cid is not None

    before = _index_rows(admin, cid)
    # nothing flagged yet: both columns are one scoring
    assert calls == [True] and before["Responden internal"] == ["40", "40"]
    assert _index_rows(admin, cid) == before and len(calls) == 1  # served from the cache

    flag_campaign(session, cid)
    session.commit()
    flagged = _index_rows(admin, cid)
    assert calls[1:] == [True, False]  # a new flag: recomputed, now with and without flagged
    kept_out = sum(1 for r in session.exec(select(Response).where(Response.campaign_id == cid))
                   if r.flagged)
    session.commit()  # end the read transaction before the next write (SQLite)
    assert flagged["Responden internal"] == ["40", str(40 - kept_out)] and kept_out > 0
    assert _index_rows(admin, cid) == flagged and len(calls) == 3

    target = min(w.planted["straight"])
    record_review(session, target, "excluded", "pic")
    session.commit()
    assert _index_rows(admin, cid)["Responden internal"] == ["39", str(40 - kept_out)]

    _resubmit_copy(session, w)
    assert _index_rows(admin, cid)["Responden internal"] == ["40", str(41 - kept_out)]

    set_correction(session, cid, {"survey_integrity": 1.5})
    session.commit()
    assert _index_rows(admin, cid)["Faktor koreksi (poin)"] == ["1,50", "1,50"]
    n = len(calls)
    _index_rows(admin, cid)
    assert len(calls) == n  # unchanged data: no scoring


def test_score_report_is_built_once_per_data_version(session: Session, admin: TestClient,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.extra_routes

    built: list[int] = []
    real = monitor.extra_routes.build_report

    def counting(session: Session, campaign_id: int, **kwargs: Any) -> Any:
        built.append(campaign_id)
        return real(session, campaign_id, **kwargs)

    monkeypatch.setattr(monitor.extra_routes, "build_report", counting)
    w = build_world(session, n=30, opens=utcnow() - timedelta(days=40))  # closed 10 days ago
    session.commit()
    cid = w.campaign.id
    url = f"/pic/c/{cid}/skor/laporan"

    def respondents() -> str:
        page = admin.get(url)
        assert page.status_code == 200 and 'class="report"' in page.text
        return page.text

    first = respondents()
    assert admin.get(f"{url}.xlsx").status_code == 200 and admin.get(f"{url}.pdf").status_code == 200
    assert respondents() == first and built == [cid]  # page and downloads from one build
    _resubmit_copy(session, w)
    second = respondents()
    assert built == [cid, cid] and second != first
    assert ">31<" in second and ">31<" not in first  # the internal respondents' count moved


def test_versioned_cache_is_bounded_and_keyed_by_database(session: Session) -> None:
    cache = VersionedCache(max_entries=2)
    v1, v2 = DataVersion("c1", 1), DataVersion("c1", 2)
    assert cache.get(session, "x", 1, v1, lambda s: "a").value == "a"
    assert cache.get(session, "x", 1, v1, lambda s: "b").value == "a"
    assert cache.get(session, "x", 1, v2, lambda s: "c").value == "c"
    cache.get(session, "x", 2, v1, lambda s: "d")
    cache.get(session, "x", 3, v1, lambda s: "e")  # evicts campaign 1, the least recently used
    assert cache.get(session, "x", 1, v2, lambda s: "f").value == "f"
    # another campaign under the same id (a database recreated): never served, not even as older figures
    other = cache.get(session, "x", 1, DataVersion("c1-again", 1), lambda s: "g", wait=0.0)
    assert (other.value, other.fresh) == ("g", True)
    assert cache.computed == 6
    assert CACHE is not cache


def _internal_n(data: Any) -> tuple[str, str]:
    table = data.table("indeks")
    row = next(r for r in table.rows if str(r[0]).strip() == "Responden internal")
    return str(row[1]), str(row[2])


def test_page_shows_the_previous_index_labelled_while_a_slow_refresh_runs(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import monitor.integrity_page
    from monitor.integrity_page import build

    w = build_world(session, n=40)
    session.commit()
    first = build(session, w.campaign, w.institution, page=0, wait=0.0)  # nothing cached: computed here
    assert _internal_n(first) == ("40", "40") and "dihitung ulang" not in first.table("indeks").note  # type: ignore[union-attr]
    session.commit()

    gate = threading.Event()
    real = monitor.integrity_page.score_institution

    def slow(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(monitor.integrity_page, "score_institution", slow)
    _resubmit_copy(session, w)
    stale = build(session, w.campaign, w.institution, page=0, wait=0.05)
    session.commit()
    assert _internal_n(stale) == ("40", "40")
    assert "sedang dihitung ulang" in stale.table("indeks").note  # type: ignore[union-attr]
    gate.set()
    CACHE.wait_idle()
    fresh = build(session, w.campaign, w.institution, page=0, wait=0.05)
    assert _internal_n(fresh) == ("41", "41") and "dihitung ulang" not in fresh.table("indeks").note  # type: ignore[union-attr]
    # an export never shows older figures: without `wait` it recomputes in the request
    _resubmit_copy(session, w)
    assert _internal_n(build(session, w.campaign, w.institution)) == ("42", "42")


def test_score_page_shows_the_previous_report_labelled_while_it_is_rebuilt(
        session: Session, admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import monitor.extra_routes

    w = build_world(session, n=30, opens=utcnow() - timedelta(days=40))  # closed 10 days ago
    session.commit()
    url = f"/pic/c/{w.campaign.id}/skor/laporan"
    first = admin.get(url).text
    assert ">30<" in first and "disusun ulang" not in first
    gate = threading.Event()
    real = monitor.extra_routes.build_report

    def slow(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(monitor.extra_routes, "build_report", slow)
    _resubmit_copy(session, w)
    older = admin.get(url).text
    assert "laporan sedang disusun ulang" in older and ">31<" not in older and ">30<" in older
    gate.set()
    CACHE.wait_idle()
    fresh = admin.get(url).text
    assert ">31<" in fresh and "disusun ulang" not in fresh
    # the download is never an older report: it is rebuilt in the request
    _resubmit_copy(session, w)
    computed = CACHE.computed
    assert admin.get(f"{url}.xlsx").status_code == 200
    assert CACHE.computed == computed + 2  # the report and the workbook, built for the new data
