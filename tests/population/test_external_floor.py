"""The external floor near the close (issue 24): the PIC is told, from the campaign's date on,
when the external answers are projected below 30, with the actions left and their counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import utcnow
from core.models import Assignment, AssignmentKind, Campaign
from population import external_floor
from population.floor import project
from population.rules import sampling_rules
from population.sampling import call_reserve, draw_sample
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit

T0 = datetime(2024, 6, 1, tzinfo=UTC)


def test_projection_extrapolates_over_the_duration_and_is_capped() -> None:
    """Proves the projection: 10 answers in 5 of 10 days -> 20; capped by the active externals;
    never below what is in; after the close, what is in."""
    closes = T0 + timedelta(days=10)
    assert project(10, 100, T0, closes, T0 + timedelta(days=5)) == 20
    assert project(10, 15, T0, closes, T0 + timedelta(days=5)) == 15
    assert project(10, 5, T0, closes, T0 + timedelta(days=5)) == 10
    assert project(10, 100, T0, closes, closes + timedelta(days=1)) == 10


def _campaign(session: Session, externals: int, answered: int, check_at: str | None) -> Campaign:
    inst = make_institution(session)
    units = [make_unit(session, inst, code="u0"), make_unit(session, inst, code="nc", counters=[])]
    now = utcnow()
    campaign = make_campaign(session, inst, opens_at=now - timedelta(days=9), closes_at=now + timedelta(days=1),
                             config={"external_floor_check_at": check_at} if check_at else {})
    for i in range(externals):
        make_person(session, units[i % 2], group="external")
    draw_sample(session, campaign, seed=1)
    drawn = session.scalars(select(Assignment).where(col(Assignment.campaign_id) == campaign.id)).all()
    for a in drawn[:answered]:
        a.responded_at = now
    walk_in = make_person(session, units[0], group="external")
    make_assignment(session, campaign, walk_in, kind=AssignmentKind.participatory)
    session.flush()
    return campaign


def test_no_date_or_before_it_no_notice(session: Session) -> None:
    """Proves the check waits for the campaign's date: none set, or a date ahead -> no notice."""
    assert external_floor(session, _campaign(session, 40, 2, None)) is None
    later = (utcnow() + timedelta(days=1)).isoformat()
    assert external_floor(session, _campaign(session, 40, 2, later)) is None


def test_after_the_date_a_projected_shortfall_is_told_with_the_actions(session: Session) -> None:
    """Proves the notice once the date passed and answers are projected below the floor: the
    counts are the external reserves still uncalled (one called up is not counted), the
    participatory registrations and the units with counters."""
    campaign = _campaign(session, 40, 2, "2020-01-01T00:00:00")
    before = external_floor(session, campaign)
    assert before is not None
    assert call_reserve(session, campaign, "u0", "external") is not None
    notice = external_floor(session, campaign)
    assert notice is not None and notice.floor == sampling_rules()["external_floor"] == 30
    assert notice.responded == 2 and notice.projected == 3  # 2 in 9 of 10 days -> 3
    assert notice.reserves == before.reserves - 1 > 0
    assert notice.participatory == 1 and notice.intercept_units == 1
    assert notice.shortfall == 27
    assert "27" in notice.body and len(notice.actions) == 3
    assert f"{notice.reserves} orang cadangan" in notice.actions[0]


def test_enough_projected_answers_no_notice(session: Session) -> None:
    """Proves the floor met in projection (30 answered of 40 drawn) gives no notice."""
    assert external_floor(session, _campaign(session, 60, 30, "2020-01-01")) is None
