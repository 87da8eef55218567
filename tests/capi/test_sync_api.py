"""The CAPI sync API (issue 23), on SQLite and PostgreSQL: a batch is stored once however often it
is resent, a known submission id with another body is refused with a reason, a partly bad batch
stores its good items, answers go through responses' writer with source `capi` (assigned: linked
to the assignment like a self-filled response; intercept: no link at all), refusals store no
response, and the bundle carries no contact data."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

import capi
from capi.models import CapiSubmission
from core.models import Assignment
from responses import Response, ResponseLink, load_questionnaire
from tests.capi.conftest import DEVICE, Field
from tests.responses.helpers import full_answers


def answers(group: str, year: int, value: int = 5) -> dict[str, Any]:
    return {k: str(v) for k, v in full_answers(load_questionnaire(group, year), value=value).items()}


def item(world: Field, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"submission_id": str(uuid.uuid4()), "mode": "assigned", "outcome": "done",
                            "campaign_id": world.campaign.id, "interviewed_at": "2026-01-05T03:00:00Z"}
    return {**base, **kw}


def batch(world: Field) -> list[dict[str, Any]]:
    year = world.campaign.year
    return [
        item(world, assignment_id=world.handed[0].id, answers=answers("internal", year, 5)),
        item(world, assignment_id=world.handed[1].id, answers=answers("internal", year, 3)),
        item(world, assignment_id=world.handed[2].id, outcome="refused", refusal_reason="sibuk"),
        item(world, mode="intercept", counter_id=world.counter.id, answers=answers("external", year, 4)),
        item(world, mode="intercept", counter_id=world.counter.id, outcome="refused",
             refusal_reason="tidak_bersedia"),
    ]


def sync(client: TestClient, headers: dict[str, str], items: list[dict[str, Any]]) -> Any:
    res = client.post("/api/capi/sync", json={"items": items}, headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def counts(session: Session) -> tuple[int, int, int]:
    session.rollback()  # a fresh read: end the test session's snapshot
    responses = session.exec(select(func.count()).select_from(Response).where(Response.source == "capi")).one()
    submissions = session.exec(select(func.count()).select_from(CapiSubmission)).one()
    links = session.exec(select(func.count()).select_from(ResponseLink)).one()
    return int(responses), int(submissions), int(links)


def test_a_batch_sent_twice_is_stored_once(client: TestClient, world: Field, app_session: dict[str, str],
                                           session: Session) -> None:
    """Proves idempotence: the second send of the same batch answers "duplicate" per item and adds
    no response, submission or link; answers are stored apart from identity."""
    items = batch(world)
    first = sync(client, app_session, items)
    assert [r["status"] for r in first["results"]] == ["stored"] * 5, first
    assert counts(session) == (3, 5, 2)  # 3 interviews, 5 submissions (2 refusals), 2 linked (assigned)
    second = sync(client, app_session, items)
    assert [r["status"] for r in second["results"]] == ["duplicate"] * 5, second
    assert second["results"][0]["message"] == capi.message("already_stored")
    assert counts(session) == (3, 5, 2)
    # Assigned interviews count as the respondent's answer; the refused one does not.
    done = session.exec(select(Assignment).where(col(Assignment.id).in_([a.id for a in world.handed]))
                        .order_by(col(Assignment.id))).all()
    assert [a.responded_at is not None for a in done] == [True, True, False]
    # Nobody of the three is on the interviewer's list any more (two answered, one refused).
    assert client.get("/api/capi/bundle", headers=app_session).json()["assignments"] == []
    # The intercept response has no link to anyone and is an external one at the counter's unit.
    unlinked = session.exec(select(Response).where(
        Response.source == "capi", col(Response.id).not_in(select(ResponseLink.response_id)))).one()
    assert (unlinked.group, unlinked.unit_id) == ("external", world.unit.id)
    rows = session.exec(select(CapiSubmission).order_by(col(CapiSubmission.id))).all()
    assert {r.interviewer_id for r in rows} == {world.interviewer.id}
    assert [r.response_id is None for r in rows] == [False, False, True, False, True]
    assert [r.refusal_reason for r in rows] == [None, None, "sibuk", None, "tidak_bersedia"]
    assert {r.device_id for r in rows} == {DEVICE}


def test_a_known_id_with_another_body_is_refused(client: TestClient, world: Field, app_session: dict[str, str],
                                                 session: Session) -> None:
    """Proves the conflict rule: the changed body is refused with the reason shown to the
    interviewer, and the stored answers stay those of the first body."""
    first = item(world, assignment_id=world.handed[0].id, answers=answers("internal", world.campaign.year, 5))
    assert sync(client, app_session, [first])["results"][0]["status"] == "stored"
    changed = {**first, "answers": answers("internal", world.campaign.year, 2)}
    result = sync(client, app_session, [changed])["results"][0]
    assert result == {"submission_id": first["submission_id"], "status": "rejected",
                      "message": capi.message("conflict")}
    stored = session.exec(select(Response).where(Response.source == "capi")).one()
    assert 5 in stored.answers.values() and 2 not in stored.answers.values()  # the 1-6 items: first body
    assert counts(session) == (1, 1, 1)


def test_a_partly_bad_batch_stores_the_good_items(client: TestClient, world: Field,
                                                  app_session: dict[str, str], session: Session) -> None:
    """Proves per-item results: each bad item is refused with its own reason, the good ones are
    stored, and nothing of a bad item is left behind."""
    year = world.campaign.year
    incomplete = answers("internal", year)
    incomplete.pop(next(iter(incomplete)))
    items = [
        item(world, assignment_id=world.handed[0].id, answers=answers("internal", year)),  # good
        item(world, assignment_id=world.handed[1].id, answers=incomplete),  # a missing answer
        item(world, assignment_id=world.other[0].id, answers=answers("internal", year)),  # not handed
        item(world, mode="intercept", counter_id=999999, answers=answers("external", year)),  # no counter
        item(world, assignment_id=world.handed[2].id, outcome="refused", refusal_reason="nama: Budi"),
        item(world, submission_id="x"),  # not a submission id
        item(world, mode="intercept", counter_id=world.counter.id, outcome="refused", refusal_reason="sibuk"),  # good
    ]
    results = sync(client, app_session, items)["results"]
    assert [r["status"] for r in results] == ["stored", "rejected", "rejected", "rejected", "rejected",
                                              "rejected", "stored"]
    assert [r["message"] for r in results[1:6]] == [capi.message(k) for k in (
        "invalid", "not_yours", "bad_counter", "bad_reason", "bad_item")]
    assert results[1]["errors"]  # which question is missing, for the interviewer
    assert counts(session) == (1, 2, 1)
    # A refused item may be corrected and sent again under its id (nothing was stored for it).
    fixed = {**items[1], "answers": answers("internal", year)}
    assert sync(client, app_session, [fixed])["results"][0]["status"] == "stored"
    assert counts(session) == (2, 3, 2)


def test_the_bundle_names_the_handed_respondents_without_contact_data(
        client: TestClient, world: Field, app_session: dict[str, str], session: Session) -> None:
    """Proves the bundle: only the interviewer's own respondents, by name and unit, no phone or
    email; the questionnaires to render; the counter with k = 120 visitors // 10 a day."""
    res = client.get("/api/capi/bundle", headers=app_session)
    assert res.status_code == 200 and res.headers["cache-control"] == "no-store"
    data = res.json()
    handed = {a.id for a in world.handed}
    assert {a["assignment_id"] for a in data["assignments"]} == handed
    assert set(data["assignments"][0]) == {"assignment_id", "campaign_id", "name", "unit", "group"}
    assert data["assignments"][0]["unit"] == "Dinas Kependudukan"
    year = world.campaign.year
    assert {f"internal:{year}", f"external:{year}"} <= set(data["questionnaires"])
    assert data["counters"] == [{"id": world.counter.id, "name": "Loket 1", "unit": "Dinas Kependudukan", "k": 12}]
    assert "@" not in res.text and "+62" not in res.text


def test_the_api_needs_the_interviewer_session_csrf_and_json(client: TestClient, world: Field,
                                                             app_session: dict[str, str]) -> None:
    """Proves the API's guards: no CSRF header -> 403, a form body -> 415, no session -> 401."""
    body = {"items": [item(world, assignment_id=world.handed[0].id, outcome="refused", refusal_reason="sibuk")]}
    assert client.post("/api/capi/sync", json=body, headers={"X-Capi-Device": DEVICE}).status_code == 403
    assert client.post("/api/capi/sync", data={"items": "x"}, headers=app_session).status_code == 415
    client.cookies.clear()
    assert client.post("/api/capi/sync", json=body, headers=app_session).status_code == 401
    assert client.get("/api/capi/bundle", headers=app_session).status_code == 401


def test_capi_answers_count_as_interviewer_share_in_the_correction_inputs(
        client: TestClient, world: Field, app_session: dict[str, str], session: Session) -> None:
    """Proves integrity knows the source: after the batch (3 CAPI interviews) and one self-filled
    response, the correction-factor inputs show an interviewer share of 3/4."""
    from integrity import correction_inputs
    from responses import submit_answers

    assert [r["status"] for r in sync(client, app_session, batch(world))["results"]] == ["stored"] * 5
    session.rollback()
    own = session.get(Assignment, world.other[0].id)
    assert own is not None
    submit_answers(session, own, answers("internal", world.campaign.year), source="web")
    session.commit()
    inputs = correction_inputs(session, world.campaign.id)  # type: ignore[arg-type]
    assert (inputs.responses, inputs.interviewer_share) == (4, 0.75)
