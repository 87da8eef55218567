"""Answers of a follow-up part the respondent is no longer shown never reach scoring (issue #20):
a respondent fills "Rincian Pengalaman", goes back and changes every experience answer to "Tidak
pernah"; on submit the follow-up answers are dropped. A CAPI import carrying such answers stores the
response without them and says so in its report (and the JSON webhook in its reply). On SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.config import reset_settings
from responses.importer import import_file
from responses.models import Response
from tests.responses.helpers import full_answers, questionnaire, respondent, responses_app
from tests.responses.test_form_structure import (
    DETAILS,
    EXPERIENCE_PAGE,
    FOLLOW_UP,
    _follow,
    _page_id,
    _post,
    _walk,
)


def _stored(session: Session) -> Response:
    session.rollback()  # a new read transaction: see what the app committed since
    rows = session.exec(select(Response)).all()
    assert len(rows) == 1
    return rows[0]


def _with_details(experience: str) -> dict[str, Any]:
    q = questionnaire("external")
    answers = full_answers(q, experience=experience)
    answers.update({x.id: x.options[0][0] for x in q.questions if x.id in DETAILS})
    return answers


def test_changing_every_experience_to_tidak_pernah_drops_the_follow_up_answers(session: Session, db_url: str) -> None:
    q = questionnaire("external")
    _, token = respondent(session, "external")
    client = TestClient(responses_app(), follow_redirects=False)
    answers = _with_details("ya")
    seen, _ = _walk(client, token, q, answers)
    assert FOLLOW_UP in [page_id for page_id, _, _ in seen]  # the details were filled and saved
    draft = _stored(session)
    assert all(d in draft.answers for d in DETAILS)
    # back to the experience page: every answer now "tidak pernah"
    changed = {**answers, **{x.id: "tidak" for x in q.questions if x.scale == "experience"}}
    back = client.get(f"/s/{token}?p={EXPERIENCE_PAGE}")
    assert _page_id(back.text) == EXPERIENCE_PAGE
    confirm = _follow(client, _post(client, token, q, EXPERIENCE_PAGE, changed))
    _walk(client, token, q, changed, shown=confirm)
    done = client.post(f"/s/{token}", data={"page": "konfirmasi", "nav": "submit"})
    assert done.status_code == 303 and "?p=" not in done.headers["location"], done.headers["location"]
    row = _stored(session)
    assert row.status == "submitted"
    assert not any(d in row.answers for d in DETAILS), {d: row.answers.get(d) for d in DETAILS}


def test_a_capi_import_drops_moot_follow_up_answers_and_reports_them(
        session: Session, db_url: str, tmp_path: Path) -> None:
    _, token = respondent(session, "external")
    answers = _with_details("tidak")
    path = tmp_path / "capi.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["token", "submission_id", *answers])
        writer.writeheader()
        writer.writerow({"token": token, "submission_id": "capi-1", **answers})
    result = import_file(path, actor="test")
    assert result.stored == 1
    assert result.dropped == [(2, sorted(DETAILS, key=list(answers).index))]
    notes = result.notes()
    assert len(notes) == 1 and notes[0].startswith("baris 2:") and "tidak pernah" in notes[0]
    row = _stored(session)
    assert not any(d in row.answers for d in DETAILS)


def test_the_webhook_says_which_answers_it_dropped(session: Session, db_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONSES_WEBHOOK_SECRET", "rahasia-webhook")
    reset_settings()
    _, token = respondent(session, "external")
    client = TestClient(responses_app())
    reply = client.post("/api/responses/submissions", headers={"Authorization": "Bearer rahasia-webhook"},
                        json={"submission_id": "kobo-1", "token": token, "answers": _with_details("tidak")})
    assert reply.status_code == 201, reply.text
    assert sorted(reply.json()["dropped"]) == sorted(DETAILS)
    assert not any(d in _stored(session).answers for d in DETAILS)
