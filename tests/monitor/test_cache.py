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
from monitor.cache import CACHE, VersionedCache
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
    import responses.scoring
    from integrity.service import flag_campaign, record_review
    from responses.scoring import set_correction

    calls: list[bool] = []
    real = responses.scoring.score_institution

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(bool(kwargs.get("include_flagged", True)))
        return real(*args, **kwargs)

    monkeypatch.setattr(responses.scoring, "score_institution", counting)
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
    import responses.reports

    built: list[int] = []
    real = responses.reports.build_report

    def counting(session: Session, campaign_id: int, **kwargs: Any) -> Any:
        built.append(campaign_id)
        return real(session, campaign_id, **kwargs)

    monkeypatch.setattr(responses.reports, "build_report", counting)
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
    assert cache.get(session, "x", 1, "v1", lambda: "a") == "a"
    assert cache.get(session, "x", 1, "v1", lambda: "b") == "a"
    assert cache.get(session, "x", 1, "v2", lambda: "c") == "c"
    cache.get(session, "x", 2, "v1", lambda: "d")
    cache.get(session, "x", 3, "v1", lambda: "e")  # evicts campaign 1, the least recently used
    assert cache.get(session, "x", 1, "v2", lambda: "f") == "f"
    assert cache.computed == 5
    assert CACHE is not cache
