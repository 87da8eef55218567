"""Campaigns with submitted responses for the report tests: random but seeded answers, profile
answers drawn from each question's options (so every profile breakdown has content)."""

from __future__ import annotations

import random
from typing import Any

from sqlmodel import Session

from core.models import Campaign, Institution, Unit
from responses import Response, load_questionnaire
from tests.factories import make_campaign, make_institution, make_unit
from tests.responses.helpers import full_answers

PROFILE_WEIGHTS = (8, 3, 1, 1, 1, 1, 1)  # skewed so that small (suppressed) cells occur


def answers(group: str, rng: random.Random, mean: float) -> dict[str, Any]:
    q = load_questionnaire(group, 2024)
    out = full_answers(q, rng=rng)
    for question in q.questions:
        if question.scale in ("likert", "negated"):
            out[question.id] = max(1, min(6, round(rng.gauss(mean, 1.0))))
    for page in q.pages:
        if page.id == "profil":
            for question in page.questions:
                codes = [c for c, _ in question.options]
                out[question.id] = rng.choices(
                    codes, weights=[PROFILE_WEIGHTS[min(i, 6)] for i in range(len(codes))])[0]
    return out


def institution_with_responses(session: Session, *, kind: str = "kabupaten", name: str | None = None,
                               units: int = 4, per_unit: dict[str, int] | None = None, experts: int = 12,
                               seed: int = 0, mean: float = 4.6) -> tuple[Institution, Campaign, list[Unit]]:
    rng = random.Random(seed)
    inst = make_institution(session, kind=kind, **({"name": name} if name else {}))
    camp = make_campaign(session, inst, year=2024)
    made = [make_unit(session, inst, name=f"Dinas {chr(65 + i)} {inst.id}") for i in range(units)]
    per_unit = per_unit or {"internal": 8, "external": 7}
    for n_unit, unit in enumerate(made):
        for group, n in per_unit.items():
            for _ in range(n):
                a = answers(group, rng, mean - 0.25 * n_unit)  # units differ: the last is the lowest
                session.add(Response(campaign_id=camp.id, institution_id=inst.id, unit_id=unit.id,  # type: ignore[arg-type]
                                     group=group, respondent_group=group, questionnaire_year=2024,
                                     status="submitted", answers=a,
                                     service_type=a.get("jenis_layanan") if group == "external" else None))
    expert_q = load_questionnaire("expert", 2024)
    crit = next(x for x in expert_q.questions if x.id == "kriteria")
    for i in range(experts):
        a = answers("expert", rng, mean)
        a["kriteria"] = "bpk" if i % 2 else "akademisi"
        session.add(Response(campaign_id=camp.id, institution_id=inst.id, unit_id=None, group="expert",  # type: ignore[arg-type]
                             respondent_group="expert", questionnaire_year=2024, status="submitted", answers=a,
                             expert_group=dict(crit.expert_group_of or {}).get(a["kriteria"])))
    session.commit()
    return inst, camp, made
