"""The answer POST as it was before responses.writer (commit 38799e9): one ORM transaction per
request. Kept only as the reference the writer's stored rows are compared with
(tests/responses/test_writer.py); the application does not use it.

Returns (status, location) instead of a response; 422 and the message pages carry no location.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from core.assignments import find_by_token
from core.clock import utcnow
from core.models import Assignment, AssignmentKind, Campaign
from responses.models import Response, ResponseLink, ResponseStatus
from responses.questionnaire import (
    CONFIRM_PAGE,
    Questionnaire,
    first_incomplete_page,
    validate_page,
)
from responses.service import (
    AlreadySubmitted,
    InvalidAnswers,
    keyed_hash,
    questionnaire_for,
    response_of,
    submit_answers,
)


def _lock_assignment(session: Session, assignment: Assignment) -> None:
    session.exec(select(Assignment.id).where(Assignment.id == assignment.id).with_for_update())


def _new_response(session: Session, assignment: Assignment, q: Questionnaire, now: datetime) -> Response:
    campaign = session.get(Campaign, assignment.campaign_id)
    assert campaign is not None
    response = Response(
        campaign_id=assignment.campaign_id, institution_id=campaign.institution_id,
        unit_id=assignment.unit_id, group=q.group, respondent_group=assignment.group,
        questionnaire_year=q.year, status=ResponseStatus.draft, created_at=now, started_at=now,
        updated_at=now,
    )
    if not assignment.active:
        response.flagged, response.review_status = True, "excluded"
    session.add(response)
    session.flush()
    session.add(ResponseLink(assignment_id=assignment.id, response_id=response.id))  # type: ignore[arg-type]
    return response


def _apply_meta(response: Response, meta: Mapping[str, Any] | None) -> None:
    if not meta:
        return
    if meta.get("ip"):
        response.ip_hash = keyed_hash(str(meta["ip"]), "ip")
    if meta.get("user_agent"):
        response.ua_hash = keyed_hash(str(meta["user_agent"])[:500], "ua")


def save_page(session: Session, assignment: Assignment, page_id: str, values: Mapping[str, Any], *,
              shown_at: datetime | None = None, meta: Mapping[str, Any] | None = None) -> Response:
    _lock_assignment(session, assignment)
    q = questionnaire_for(session, assignment)
    now = utcnow()
    response = response_of(session, assignment)
    if response is not None and response.status == ResponseStatus.submitted:
        raise AlreadySubmitted(response)
    if response is None:
        response = _new_response(session, assignment, q, shown_at or now)
    response.answers = {**response.answers, **values}
    times = dict(response.page_times)
    entry = dict(times.get(page_id) or {})
    if shown_at and "shown" not in entry:
        entry["shown"] = shown_at.isoformat()
    entry["saved"] = now.isoformat()
    times[page_id] = entry
    response.page_times = times
    response.updated_at = now
    _apply_meta(response, meta)
    session.add(response)
    session.flush()
    return response


def handle_post(session: Session, token: str, data: dict[str, str], meta: dict[str, Any],
                shown_at: datetime | None) -> tuple[int, str | None]:
    assignment = find_by_token(session, token)
    if assignment is None or (not assignment.active and assignment.kind != AssignmentKind.participatory):
        return 404, None
    campaign = session.get(Campaign, assignment.campaign_id)
    if campaign is None:
        return 404, None
    response = response_of(session, assignment)
    if response is not None and response.status == ResponseStatus.submitted:
        return 409, None
    if not campaign.is_open():
        not_yet = campaign.opens_at is not None and campaign.status != "closed" and utcnow() < campaign.opens_at
        return (403 if not_yet else 410), None
    q = questionnaire_for(session, assignment)
    ids = q.page_ids()
    page_id = data.get("page", "")
    if page_id not in ids:
        return 303, f"/s/{token}"
    answers = dict(response.answers) if response else {}
    nav = data.get("nav", "next")
    index = ids.index(page_id)
    if page_id == CONFIRM_PAGE:
        if nav == "back":
            return 303, f"/s/{token}?p={ids[index - 1]}"
        missing = first_incomplete_page(q, answers)
        if missing:
            return 303, f"/s/{token}?p={missing}"
        try:
            submit_answers(session, assignment, answers, source="web", meta=meta)
        except AlreadySubmitted:
            return 409, None
        except InvalidAnswers as exc:
            first = next(iter(exc.errors))
            target = next((pg.id for pg in q.pages if any(x.id == first for x in pg.questions)), ids[0])
            return 303, f"/s/{token}?p={target}"
        return 303, f"/s/{token}"
    page = q.page(page_id)
    assert page is not None
    values, errors = validate_page(q, page, data, answers)
    if nav == "back":
        if values:
            save_page(session, assignment, page_id, values, shown_at=shown_at, meta=meta)
        return 303, f"/s/{token}?p={ids[max(index - 1, 0)]}"
    if errors:
        return 422, None
    save_page(session, assignment, page_id, values, shown_at=shown_at, meta=meta)
    return 303, f"/s/{token}?p={ids[index + 1]}"
