"""Imports of responses collected elsewhere: CSV/XLSX with a token column, and the JSON webhook."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlmodel import Session, select

from core.config import reset_settings
from responses.importer import ImportFailed, import_file
from responses.models import Response
from tests.responses.helpers import full_answers, questionnaire, respondent, responses_app


def _write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    keys = sorted({k for r in rows for k in r})
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    return path


def test_csv_import_is_idempotent_and_all_or_nothing(session: Session, db_url: str, tmp_path: Path) -> None:
    a1, t1 = respondent(session, "internal")
    a2, t2 = respondent(session, "expert")
    rows = [{"token": t1, "submission_id": "capi-1", **full_answers(questionnaire("internal"))},
            {"token": t2, "submission_id": "capi-2", **full_answers(questionnaire("expert"))}]
    path = _write_csv(tmp_path / "capi.csv", rows)
    result = import_file(path, actor="test")
    assert (result.stored, result.duplicates) == (2, 0)
    again = import_file(path, actor="test")  # a resend is accepted once
    assert (again.stored, again.duplicates) == (0, 2)
    session.expire_all()
    assert len(session.exec(select(Response)).all()) == 2
    # Same submission id, different body: refused; nothing of the file is stored.
    a3, t3 = respondent(session, "internal")
    changed = dict(rows[0], trading_in_influence_1_k=1)
    bad = _write_csv(tmp_path / "bad.csv",
                     [{"token": t3, "submission_id": "capi-3", **full_answers(questionnaire("internal"))}, changed])
    with pytest.raises(ImportFailed) as exc:
        import_file(bad, actor="test")
    assert "baris 3" in str(exc.value) and "capi-1" in str(exc.value)
    session.expire_all()
    assert len(session.exec(select(Response)).all()) == 2


def test_xlsx_import_with_title_rows_and_errors(session: Session, db_url: str, tmp_path: Path) -> None:
    _, token = respondent(session, "external")
    answers = full_answers(questionnaire("external"))
    wb = Workbook()
    ws = wb.active
    ws.append(["Hasil CAPI SPI 2024"])
    ws.append([])
    ws.append(["token", *answers])
    ws.append([token, *answers.values()])
    ws.append(["token-yang-salah", *answers.values()])
    path = tmp_path / "capi.xlsx"
    wb.save(path)
    with pytest.raises(ImportFailed, match="baris 5: token tidak dikenal"):
        import_file(path, actor="test")
    wb2 = Workbook()
    ws2 = wb2.active
    ws2.append(["token", *answers])
    row = [token, *answers.values()]
    row[1] = 9  # outside 1..6 / options
    ws2.append(row)
    wb2.save(path)
    with pytest.raises(ImportFailed, match="baris 2"):
        import_file(path, actor="test")
    session.expire_all()
    assert session.exec(select(Response)).first() is None


def test_webhook(session: Session, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(responses_app())
    _, token = respondent(session, "internal")
    body = {"submission_id": "tab-7", "token": token, "answers": full_answers(questionnaire("internal"))}
    assert client.post("/api/responses/submissions", json=body).status_code == 404  # disabled by default
    monkeypatch.setenv("RESPONSES_WEBHOOK_SECRET", "s3cret-for-tests-0123456789")
    reset_settings()
    auth = {"Authorization": "Bearer s3cret-for-tests-0123456789"}
    assert client.post("/api/responses/submissions", json=body,
                       headers={"Authorization": "Bearer x"}).status_code == 401
    assert client.post("/api/responses/submissions", content=b"{not json", headers=auth).status_code == 400
    invalid = dict(body, answers={"jenis_kelamin": "Z"})
    r = client.post("/api/responses/submissions", json=invalid, headers=auth)
    assert r.status_code == 422 and "jenis_kelamin" in r.json()["fields"]
    first = client.post("/api/responses/submissions", json=body, headers=auth)
    assert first.status_code == 201, first.text
    resend = client.post("/api/responses/submissions", json=body, headers=auth)
    assert resend.status_code == 200 and resend.json()["response_id"] == first.json()["response_id"]
    changed = dict(body, answers={**body["answers"],
                                  "jenis_kelamin": "P" if body["answers"]["jenis_kelamin"] == "L" else "L"})
    assert client.post("/api/responses/submissions", json=changed, headers=auth).status_code == 409
    other_id = dict(body, submission_id="tab-8")
    assert client.post("/api/responses/submissions", json=other_id, headers=auth).status_code == 409
    session.expire_all()
    assert len(session.exec(select(Response)).all()) == 1
