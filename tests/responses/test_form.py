"""The questionnaire behind the "ISI SURVEI" link, through the HTTP app (no JavaScript)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.models import Assignment
from responses.models import Response, ResponseLink
from tests.responses.helpers import full_answers, questionnaire, respondent, responses_app


@pytest.fixture
def client(db_url: str) -> TestClient:
    return TestClient(responses_app(), follow_redirects=False)


def _post_all(client: TestClient, token: str, group: str) -> None:
    q = questionnaire(group)
    answers = full_answers(q)
    for page in q.pages:
        data = {"page": page.id, "nav": "next", **{x.id: str(answers[x.id]) for x in page.questions if x.id in answers}}
        r = client.post(f"/s/{token}", data=data)
        assert r.status_code == 303, (page.id, r.text[:500])


def test_unknown_token_is_a_polite_404(client: TestClient) -> None:
    r = client.get("/s/not-a-real-token")
    assert r.status_code == 404
    assert "Tautan tidak ditemukan" in r.text
    assert client.post("/s/not-a-real-token", data={"page": "profil"}).status_code == 404


@pytest.mark.parametrize("group", ["internal", "external", "expert"])
def test_complete_submit_and_thanks(client: TestClient, session: Session, group: str) -> None:
    assignment, token = respondent(session, group)
    first = client.get(f"/s/{token}")
    assert first.status_code == 200 and "Bagian 1 dari" in first.text
    _post_all(client, token, group)
    confirm = client.get(f"/s/{token}")
    assert "Kirim jawaban" in confirm.text
    r = client.post(f"/s/{token}", data={"page": "konfirmasi", "nav": "submit"})
    assert r.status_code == 303
    thanks = client.get(f"/s/{token}")
    assert "Jawaban Anda sudah kami terima" in thanks.text and "<form" not in thanks.text
    session.expire_all()
    rows = session.exec(select(Response)).all()
    assert len(rows) == 1 and rows[0].status == "submitted" and rows[0].group == group
    assert rows[0].page_times and set(rows[0].page_times) == {p.id for p in questionnaire(group).pages}
    assert session.get(Assignment, assignment.id).responded_at is not None
    # A second submission is refused with a clear page and stores nothing.
    again = client.post(f"/s/{token}", data={"page": "konfirmasi", "nav": "submit"})
    assert again.status_code == 409 and "sudah kami terima sebelumnya" in again.text
    assert len(session.exec(select(Response)).all()) == 1
    assert len(session.exec(select(ResponseLink)).all()) == 1


def test_missing_answer_is_shown_and_nothing_lost(client: TestClient, session: Session) -> None:
    _, token = respondent(session, "internal")
    r = client.post(f"/s/{token}", data={"page": "profil", "nav": "next", "jenis_kelamin": "P"})
    assert r.status_code == 422
    assert "Mohon pilih salah satu jawaban" in r.text
    assert 'value="P" checked' in r.text  # what was answered stays answered
    bad = client.post(f"/s/{token}", data={"page": "profil", "nav": "next", "jenis_kelamin": "X<script>"})
    assert bad.status_code == 422 and "<script>" not in bad.text


def test_submit_before_complete_goes_to_missing_page(client: TestClient, session: Session) -> None:
    _, token = respondent(session, "internal")
    r = client.post(f"/s/{token}", data={"page": "konfirmasi", "nav": "submit"})
    assert r.status_code == 303 and r.headers["location"].endswith("?p=profil")
    assert session.exec(select(Response)).first() is None


def test_closed_campaign_refuses(client: TestClient, session: Session) -> None:
    from datetime import timedelta

    from core.clock import utcnow

    _, token = respondent(session, "internal", opens_at=utcnow() - timedelta(days=30),
                          closes_at=utcnow() - timedelta(days=1))
    r = client.get(f"/s/{token}")
    assert r.status_code == 410 and "sudah berakhir" in r.text


def test_response_counts(client: TestClient, session: Session) -> None:
    from responses.stats import response_counts

    assignment, token = respondent(session, "external")
    _post_all(client, token, "external")
    client.post(f"/s/{token}", data={"page": "konfirmasi", "nav": "submit"})
    counts = response_counts(session, assignment.campaign_id)
    c = counts[(assignment.unit_id, "external")]
    assert (c.assigned, c.responded, c.submitted, c.drafts) == (1, 1, 1, 0)


def test_concurrent_submissions_store_one_response(session: Session, db_url: str) -> None:
    import threading

    from core.db import session_scope
    from responses.service import AlreadySubmitted, submit_answers

    assignment, _ = respondent(session, "expert")
    answers = full_answers(questionnaire("expert"))
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            with session_scope(write=True) as s:
                submit_answers(s, s.get(Assignment, assignment.id), answers)
            outcomes.append("stored")
        except AlreadySubmitted:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["refused", "refused", "refused", "stored"]
    session.expire_all()
    assert len(session.exec(select(Response)).all()) == 1


def test_a_valid_link_opens_behind_an_address_that_guessed(session: Session) -> None:
    """Issue #21: after TOKEN_MISS_LIMIT (20) unknown links from one carrier-NAT address, a
    respondent behind it still opens and answers with their own link; unknown links get 429."""
    from core.security import SecurityMiddleware

    app = responses_app()
    app.add_middleware(SecurityMiddleware)
    client = TestClient(app, follow_redirects=False)
    _, token = respondent(session)
    statuses = [client.get(f"/s/tebakan-{i}").status_code for i in range(22)]
    assert statuses == [404] * 20 + [429] * 2
    assert client.post("/s/tebakan-x", data={"page": "profil"}).status_code == 429
    opened = client.get(f"/s/{token}")
    assert opened.status_code == 200 and "Terlalu banyak" not in opened.text
    saved = client.post(f"/s/{token}", data={"page": "profil", "nav": "next"})
    assert saved.status_code in (303, 422)  # decided by the form, never refused by the limit
