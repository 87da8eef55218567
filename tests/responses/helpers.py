"""Helpers for the responses tests: complete answer sets and a respondent with a link."""

from __future__ import annotations

import random
from typing import Any

from sqlmodel import Session

from responses.questionnaire import Questionnaire, load_questionnaire
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit


def full_answers(
    q: Questionnaire, value: int = 5, experience: str = "tidak", rng: random.Random | None = None
) -> dict[str, Any]:
    """A complete, valid answer set (every required question answered)."""
    out: dict[str, Any] = {}
    for question in q.questions:
        if question.scale in ("likert", "negated"):
            out[question.id] = rng.randint(1, 6) if rng else value
        elif question.scale == "experience":
            out[question.id] = experience
        elif question.required_if is None:
            out[question.id] = question.options[0][0]
    if any(str(out.get(k)) in v for x in q.questions if x.required_if for k, v in x.required_if.items()):
        for x in q.questions:
            if x.required_if:
                out[x.id] = x.options[0][0]
    return out


def respondent(session: Session, group: str = "internal", **campaign_kw: Any) -> tuple[Any, str]:
    inst = make_institution(session)
    unit = make_unit(session, inst)
    camp = make_campaign(session, inst, year=campaign_kw.pop("year", 2024), **campaign_kw)
    person = make_person(session, unit, group=group)
    assignment, token = make_assignment(session, camp, person)
    session.commit()
    return assignment, token


def questionnaire(group: str) -> Questionnaire:
    return load_questionnaire(group, 2024)


def responses_app() -> Any:
    """An app with only this package's routes (other packages may be mid-change in the tree)."""
    from fastapi import FastAPI

    from app.registry import import_all_models
    from responses.router import router

    import_all_models()
    app = FastAPI()
    app.include_router(router)
    return app
