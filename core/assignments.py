"""Creating and finding assignments (one respondent of one campaign, with a personal link)."""

from __future__ import annotations

from sqlmodel import Session, select

from core.clock import utcnow
from core.models import Assignment, AssignmentKind, Campaign, Person
from core.tokens import hash_token, new_nonce, survey_url, token_for


def create_assignment(
    session: Session,
    campaign: Campaign,
    person: Person,
    *,
    kind: str = AssignmentKind.sampled,
    active: bool = True,
    reserve_rank: int | None = None,
    counter: str | None = None,
) -> Assignment:
    nonce = new_nonce()
    assignment = Assignment(
        campaign_id=campaign.id,  # type: ignore[arg-type]
        person_id=person.id,  # type: ignore[arg-type]
        unit_id=person.unit_id,
        group=person.group,
        kind=kind,
        active=active,
        reserve_rank=reserve_rank,
        counter=counter,
        token_nonce=nonce,
        token_hash=hash_token(token_for(nonce)),
        created_at=utcnow(),
    )
    session.add(assignment)
    return assignment


def token_of(assignment: Assignment) -> str:
    """The raw token of an assignment (derived again from its nonce and SECRET_KEY)."""
    return token_for(assignment.token_nonce)


def link_of(assignment: Assignment) -> str:
    return survey_url(token_of(assignment))


def find_by_token(session: Session, token: str) -> Assignment | None:
    if not token or len(token) > 128:
        return None
    return session.exec(select(Assignment).where(Assignment.token_hash == hash_token(token))).first()
