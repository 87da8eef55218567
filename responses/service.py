"""Storing answers: drafts saved page by page, one submitted response per assignment.

Exceptions (all `ResponseError`):
- `AlreadySubmitted`: the link already has a submitted response (a second one is never stored).
- `InvalidAnswers`: answers missing or outside the questionnaire; `.errors` maps question id -> text.
- `SubmissionConflict`: a submission id seen before arrives with a different body (HTTP 409).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import get_engine
from core.errors import SpibotError
from core.models import (
    CLOSED_STATUSES,
    Assignment,
    AssignmentKind,
    Campaign,
    Group,
    Institution,
    Unit,
)
from core.tokens import hash_token
from responses.models import Response, ResponseLink, ResponseStatus
from responses.questionnaire import Questionnaire, load_questionnaire, validate_all


class ResponseError(SpibotError):
    """Base class of this module's errors."""


class AlreadySubmitted(ResponseError):
    def __init__(self, response: Response) -> None:
        super().__init__("this link already has a submitted response")
        self.response = response


class InvalidAnswers(ResponseError):
    def __init__(self, errors: Mapping[str, str]) -> None:
        detail = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:10])
        super().__init__(f"{len(errors)} invalid or missing answer(s): {detail}")
        self.errors = dict(errors)


class SubmissionConflict(ResponseError):
    def __init__(self, submission_id: str) -> None:
        super().__init__(f"submission id {submission_id!r} was already received with a different body")
        self.submission_id = submission_id


def keyed_hash(value: str | None, purpose: str) -> str | None:
    """HMAC-SHA256 of an IP address or user agent with SECRET_KEY: comparable, never reversible."""
    if not value:
        return None
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def survey_group(assignment: Assignment) -> str:
    return survey_group_of(assignment.group)


def survey_group_of(group: str) -> str:
    """The questionnaire group of a respondent group (vendor -> external); unknown ones as is."""
    try:
        return Group(group).survey_group
    except ValueError:
        return group


def questionnaire_for(session: Session, assignment: Assignment) -> Questionnaire:
    campaign = session.get(Campaign, assignment.campaign_id)
    assert campaign is not None
    return load_questionnaire(survey_group(assignment), campaign.year)


def response_of(session: Session, assignment: Assignment) -> Response | None:
    """The (draft or submitted) response of an assignment, through the link table.

    Always as stored now (`populate_existing`): `submit_answers` calls it after locking the
    assignment, while its caller may still hold an object read before the lock; without the
    refresh, a submission committed by another request in between was overwritten with the stale
    copy (PostgreSQL; commit 38799e9). The answer POST reads after its lock (responses.writer)."""
    stmt = (
        select(Response)
        .join(ResponseLink, ResponseLink.response_id == Response.id)  # type: ignore[arg-type]
        .where(ResponseLink.assignment_id == assignment.id)
        .execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()


# --- the respondent's page: one link read as plain values (responses.page) -------------------

MAX_TOKEN_LENGTH = 128  # as core.assignments.find_by_token


@dataclass(frozen=True)
class LinkView:
    """What the questionnaire page needs about one link (plain values, read once)."""

    group: str  # the assignment's group as sampled (vendor stays vendor)
    year: int  # the campaign's year
    opens_at: datetime
    closes_at: datetime
    campaign_status: str
    institution: str
    unit: str | None
    response_status: str | None  # None: nothing saved yet
    answers: Mapping[str, Any]

    @property
    def survey_group(self) -> str:
        return survey_group_of(self.group)

    def is_open(self, at: datetime | None = None) -> bool:
        """As `Campaign.is_open`."""
        now = at or utcnow()
        return (self.campaign_status not in CLOSED_STATUSES
                and as_utc(self.opens_at) <= now < as_utc(self.closes_at))

    def not_yet_open(self, at: datetime | None = None) -> bool:
        return self.campaign_status not in CLOSED_STATUSES and (at or utcnow()) < as_utc(self.opens_at)


_STATEMENT = (
    select(  # type: ignore[call-overload]
        Assignment.token_hash, Assignment.active, Assignment.kind, Assignment.group,
        Campaign.year, Campaign.opens_at, Campaign.closes_at, Campaign.status,
        Institution.name, Unit.name, Response.status, Response.answers,
    )
    .select_from(Assignment)
    .join(Campaign, Campaign.id == Assignment.campaign_id)
    .outerjoin(Institution, Institution.id == Campaign.institution_id)
    .outerjoin(Unit, Unit.id == Assignment.unit_id)
    .outerjoin(ResponseLink, ResponseLink.assignment_id == Assignment.id)
    .outerjoin(Response, Response.id == ResponseLink.response_id)
    .where(Assignment.token_hash.in_(bindparam("hashes", expanding=True)))  # type: ignore[attr-defined]
)


def _view(row: Any) -> LinkView | None:
    _hash, active, kind, group, year, opens_at, closes_at, status, inst, unit, r_status, answers = row
    # An inactive participatory assignment (a second registration of a known number) is served
    # like any other, so the registration reveals nothing; its answers never count
    # (responses.service._new_response). Other inactive ones (idle reserves) are not served.
    if not active and kind != AssignmentKind.participatory:
        return None
    return LinkView(group=group, year=year, opens_at=opens_at, closes_at=closes_at,
                    campaign_status=status, institution=inst or "", unit=unit,
                    response_status=r_status, answers=dict(answers) if answers else {})


def read_links(conn: Connection, hashes: list[bytes]) -> dict[bytes, LinkView | None]:
    """The links behind some token hashes, in one statement (absent: unknown)."""
    rows = conn.execute(_STATEMENT, {"hashes": hashes}).all()
    return {bytes(row[0]): _view(row) for row in rows}


def load_link(token: str) -> LinkView | None:
    """The link behind `token`, or None when it is unknown or not served. Blocking, on a pooled
    connection; the web route reads through `responses.page.reader`."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(token)
    with get_engine().connect() as conn:
        return read_links(conn, [digest]).get(digest)


# --- the answer POST's reads and inserts through the link table (responses.writer) -------------

_RESPONSE_ROWS = (
    select(ResponseLink.assignment_id, Response.__table__)  # type: ignore[attr-defined]
    .select_from(ResponseLink)
    .join(Response, Response.id == ResponseLink.response_id)  # type: ignore[arg-type]
    .where(ResponseLink.assignment_id.in_(bindparam("ids", expanding=True)))  # type: ignore[attr-defined]
)


def responses_of(session: Session, assignment_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stored response (every column, plain values) of each of these assignments that has one."""
    out: dict[int, dict[str, Any]] = {}
    for found in session.execute(_RESPONSE_ROWS, {"ids": assignment_ids}).mappings():
        row = dict(found)
        out[row.pop("assignment_id")] = row
    return out


def insert_responses(session: Session, new: list[tuple[int, dict[str, Any]]]) -> None:
    """Insert new responses (every column but id) and link each to its assignment: one multi-row
    INSERT each. `new`: (assignment id, response row)."""
    table = Response.__table__  # type: ignore[attr-defined]
    ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                          [row for _, row in new]).scalars().all()
    session.execute(insert(ResponseLink.__table__), [  # type: ignore[attr-defined]
        {"assignment_id": a, "response_id": r} for (a, _), r in zip(new, ids, strict=True)])


def _lock_assignment(session: Session, assignment: Assignment) -> None:
    """Serialise writers of one assignment (PostgreSQL row lock; SQLite already holds BEGIN IMMEDIATE)."""
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
        # A duplicate participatory registration: kept for the record, never counted.
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


def body_hash(assignment_id: int | None, answers: Mapping[str, Any]) -> str:
    """The digest stored with a submission (the idempotence check of `submit_answers`)."""
    body = json.dumps({"a": assignment_id, "answers": answers}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def derived_fields(q: Questionnaire, group: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """service_type / expert_group of a submission (`group`: the assignment's, as sampled)."""
    out: dict[str, Any] = {"service_type": None, "expert_group": None}
    if q.group == "external":
        out["service_type"] = values.get("jenis_layanan") or ("pbj" if group == Group.vendor else "non_pbj")
    if q.group == "expert":
        crit = q.question("kriteria")
        if crit and crit.expert_group_of and values.get("kriteria"):
            out["expert_group"] = crit.expert_group_of.get(str(values["kriteria"]))
    return out


def submit_answers(
    session: Session,
    assignment: Assignment,
    answers: dict[str, Any],
    *,
    source: str = "web",
    submission_id: str | None = None,
    meta: dict[str, Any] | None = None,
    dropped: list[str] | None = None,
) -> Response:
    """Store the complete answers of one assignment as its single submitted response.

    Answers of a part the respondent is no longer shown (a follow-up part after every experience
    answer became "Tidak pernah") are dropped, never stored or scored; their ids are appended to
    `dropped` when given (an import reports them).

    Idempotent by `submission_id`: the same id with the same body returns the stored response; with
    a different body raises `SubmissionConflict`. Sets `assignment.responded_at`. The caller commits.
    """
    _lock_assignment(session, assignment)
    digest = body_hash(assignment.id, answers)
    if submission_id:
        seen = session.exec(select(Response).where(Response.submission_id == submission_id)).first()
        if seen is not None:
            if seen.body_hash == digest:
                return seen
            raise SubmissionConflict(submission_id)
    q = questionnaire_for(session, assignment)
    response = response_of(session, assignment)
    if response is not None and response.status == ResponseStatus.submitted:
        raise AlreadySubmitted(response)
    values, errors = validate_all(q, answers)
    if errors:
        raise InvalidAnswers(errors)
    values, moot = q.drop_skipped(values)
    if dropped is not None:
        dropped.extend(moot)
    now = utcnow()
    if response is None:
        response = _new_response(session, assignment, q, now)
    response.answers = values
    response.status = ResponseStatus.submitted
    response.submitted_at = now
    response.updated_at = now
    response.source = source
    response.submission_id = submission_id
    response.body_hash = digest
    for key, value in derived_fields(q, assignment.group, values).items():
        setattr(response, key, value)
    if meta and isinstance(meta.get("page_times"), dict):
        response.page_times = {**response.page_times, **meta["page_times"]}
    _apply_meta(response, meta)
    assignment.responded_at = now
    session.add(response)
    session.add(assignment)
    session.flush()
    return response


def submit_unlinked(
    session: Session,
    campaign: Campaign,
    answers: dict[str, Any],
    *,
    group: str,
    unit_id: int | None,
    source: str,
    submission_id: str,
) -> Response:
    """Store the complete answers of a respondent with no assignment (an interviewer's intercept
    at a counter, capi): a submitted response with no `ResponseLink`, so no identity at all.
    Validated, trimmed and idempotent by `submission_id` exactly as `submit_answers`."""
    digest = body_hash(None, answers)
    seen = session.exec(select(Response).where(Response.submission_id == submission_id)).first()
    if seen is not None:
        if seen.body_hash == digest:
            return seen
        raise SubmissionConflict(submission_id)
    q = load_questionnaire(survey_group_of(group), campaign.year)
    values, errors = validate_all(q, answers)
    if errors:
        raise InvalidAnswers(errors)
    values, _ = q.drop_skipped(values)
    now = utcnow()
    response = Response(
        campaign_id=campaign.id, institution_id=campaign.institution_id, unit_id=unit_id,  # type: ignore[arg-type]
        group=q.group, respondent_group=group, questionnaire_year=q.year,
        status=ResponseStatus.submitted, answers=values, source=source, submission_id=submission_id,
        body_hash=digest, created_at=now, started_at=now, updated_at=now, submitted_at=now,
        **derived_fields(q, group, values),
    )
    session.add(response)
    session.flush()
    return response
