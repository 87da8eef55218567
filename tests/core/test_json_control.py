"""No 500 from input, JSON bodies (issue #21): a NUL or another control character inside a JSON
body, raw or written as a \\u escape, is refused (400) by the security middleware before the route
or the database sees it — shown on the JSON response-import API (`/api/responses/submissions`), on
both backends. Tab, newline and an escaped backslash followed by "u0000" (text, not a control
character) still go through."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.config import reset_settings
from core.security import json_has_control
from responses.models import Response
from tests.responses.helpers import full_answers, questionnaire, respondent

SECRET = "rahasia-webhook-panjang"
HEADERS = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
URL = "/api/responses/submissions"


@pytest.fixture
def client(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("RESPONSES_WEBHOOK_SECRET", SECRET)
    reset_settings()
    from web import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def test_the_escape_rule() -> None:
    assert json_has_control(b'{"a": "x\\u0000"}') and json_has_control(b'{"a": "\\u001B"}')
    assert json_has_control(b'{"a": "\\\\\\u0000"}')  # an escaped backslash, then a NUL escape
    assert json_has_control(b'{"a": "x\x00"}') and json_has_control(b'{"a": "\\u007f"}')
    assert not json_has_control(b'{"a": "\\\\u0000"}')  # the text \u0000
    assert not json_has_control(b'{"a": "baris\\nbaru\\tTab\\u000a"}\n')


def test_a_nul_in_a_json_body_is_refused_before_the_database(client: TestClient, session: Session) -> None:
    _, token = respondent(session, "internal")
    answers = full_answers(questionnaire("internal"))
    for bad in ({"submission_id": "capi-\u0000", "token": token, "answers": answers},
                {"submission_id": "capi-1", "token": token + "\u0000", "answers": answers},
                {"submission_id": "capi-1", "token": token, "answers": {**answers, "catatan\u001b": "x"}}):
        refused = client.post(URL, content=json.dumps(bad).encode(), headers=HEADERS)
        assert refused.status_code == 400, refused.text
        assert "karakter yang tidak diizinkan" in refused.text
        assert refused.headers["x-content-type-options"] == "nosniff"
    session.rollback()
    assert session.exec(select(Response)).first() is None
    # the same submission without the control character is stored
    ok = client.post(URL, content=json.dumps({"submission_id": "capi-1", "token": token, "answers": answers}).encode(),
                     headers=HEADERS)
    assert ok.status_code == 201, ok.text
    # the text "\u0000" (an escaped backslash) is not a control character: the route answers it
    text = client.post(URL, content=b'{"submission_id": "capi-\\\\u0000", "token": "x", "answers": {}}',
                       headers=HEADERS)
    assert text.status_code == 404 and text.json() == {"error": "unknown token"}
