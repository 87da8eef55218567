"""Scores of one campaign (one institution): sub-indices, index, unit/service/expert breakdowns,
risk maps and the external experience findings. Reads `Response` only (never the link table).

Every aggregate of fewer than `min_cell` respondents (settings.min_cell_size, default 5) is
suppressed here, at the source: its scores are None and `suppressed` is True, so no page or
export built on this result can show it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlmodel import Session, select

from core.clock import utcnow
from core.config import get_settings
from core.models import Campaign, Unit
from responses.models import CorrectionInput, Response, ResponseStatus
from responses.questionnaire import GROUPS, load_questionnaire
from responses.scoring import engine
from responses.scoring.method import (
    MethodError,
    category,
    classify,
    find_threshold,
    round2,
    weights,
)

# External experience items (questionnaire ids) and the detail questions that follow them.
ASKED_ITEM = "employee_integrity_2_k"  # "dimintai uang, barang atau fasilitas"
GAVE_ITEM = "employee_integrity_3_k"  # "memberikan uang, barang atau fasilitas"
DETAIL_QUESTIONS = ("pemberian_cara", "pemberian_frekuensi", "pemberian_nilai", "pemberian_alasan")
SERVICE_LABELS = {"pbj": "Layanan PBJ (pengadaan barang/jasa)", "non_pbj": "Layanan non-PBJ"}


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round2(float(value))


def _share(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 4)


@dataclass
class ItemRow:
    group: str
    dimension: str
    variable: str
    kind: str
    reference: str
    n: int
    share: float | None  # negative share (keberadaan/risiko) or positive share (pencegahan)
    level: str | None
    score: float | None
    matched: str | None = None  # the threshold item matched when its wording differs (method.find_threshold)


@dataclass
class Breakdown:
    group: str
    key: str
    label: str
    n: int
    index: float | None
    category: str | None
    suppressed: bool
    variables: dict[str, float | None] = field(default_factory=dict)
    # Per-unit risk map and dimensions (units only; empty when suppressed or not asked for).
    dimensions: dict[str, float | None] = field(default_factory=dict)
    items: list[ItemRow] = field(default_factory=list)


@dataclass
class GroupResult:
    group: str
    n: int
    suppressed: bool
    index: float | None
    dimensions: dict[str, float | None]
    variables: dict[str, float | None]
    items: list[ItemRow]


@dataclass
class Distribution:
    question: str
    base: int
    counts: dict[str, int]  # option label -> count (empty when suppressed)
    suppressed: bool


@dataclass
class ExperienceFindings:
    n: int
    asked_share: float | None
    gave_share: float | None
    details: list[Distribution]
    suppressed: bool


@dataclass
class InstitutionScore:
    campaign_id: int
    institution_id: int
    year: int
    min_cell: int
    include_flagged: bool
    groups: dict[str, GroupResult]
    units: list[Breakdown]
    service_types: list[Breakdown]
    expert_groups: list[Breakdown]
    experience: ExperienceFindings | None
    correction_parts: dict[str, float]
    correction: float
    index: float | None
    category: str | None
    history: dict[int, float]


def load_responses(session: Session, campaign_id: int, include_flagged: bool = True) -> list[Response]:
    """Submitted responses that count: never those a reviewer excluded; flagged ones on request."""
    stmt = select(Response).where(Response.campaign_id == campaign_id,
                                  Response.status == ResponseStatus.submitted)
    rows = [r for r in session.exec(stmt).all() if r.review_status != "excluded"]
    if not include_flagged:
        rows = [r for r in rows if not r.flagged or r.review_status == "kept"]
    return rows


def _matched(group: str, kind: str, reference: str, year: int) -> str | None:
    try:
        item = find_threshold(group, kind, reference, year).item
    except MethodError:
        return None
    return item if item != reference.strip() else None


def _group_result(scores: engine.GroupScores, row: int, group: str, min_cell: int, year: int) -> GroupResult:
    layout = scores.layout
    n = int(scores.n[row])
    small = n < min_cell
    items = []
    for i, q in enumerate(layout.items):
        share = scores.positive_share[row, i] if q.kind == "pencegahan" else scores.negative_share[row, i]
        value = _share(share) if not small else None
        # Classify the exact share (a boundary value takes the lower level), show it rounded.
        level = classify(group, str(q.kind), str(q.reference), float(share), year) if value is not None else None
        items.append(ItemRow(group, str(q.dimension), str(q.variable), str(q.kind), str(q.reference),
                             n, value, level, None if small else _num(scores.item[row, i]),
                             _matched(group, str(q.kind), str(q.reference), year)))
    return GroupResult(
        group=group, n=n, suppressed=small, index=None if small else _num(scores.index[row]),
        dimensions={d: None if small else _num(scores.dimension[row, j]) for j, d in enumerate(layout.dimensions)},
        variables={v: None if small else _num(scores.variable[row, j]) for j, v in enumerate(layout.variables)},
        items=items,
    )


def _breakdowns(layout: engine.Layout, codes: np.ndarray, keys: list[Any], labels: dict[Any, str],
                group: str, min_cell: int, with_variables: bool = False,
                risk_map_year: int | None = None) -> list[Breakdown]:
    distinct = sorted({k for k in keys if k is not None}, key=str)
    if not distinct:
        return []
    ids = np.array([distinct.index(k) if k is not None else -1 for k in keys], dtype=np.int64)
    s = engine.score(layout, codes, ids, len(distinct)).suppress(min_cell)
    out = []
    for j, key in enumerate(distinct):
        n = int(s.n[j])
        idx = _num(s.index[j])
        variables = ({v: _num(s.variable[j, m]) for m, v in enumerate(layout.variables)}
                     if with_variables else {})
        b = Breakdown(group, str(key), labels.get(key, str(key)), n, idx,
                      category(idx) if idx is not None else None, n < min_cell, variables)
        if risk_map_year is not None and n >= min_cell:
            detail = _group_result(s, j, group, min_cell, risk_map_year)
            b.dimensions, b.items = detail.dimensions, detail.items
        out.append(b)
    return out


def _experience(rows: list[Response], min_cell: int) -> ExperienceFindings | None:
    if not rows:
        return None
    q = load_questionnaire("external", rows[0].questionnaire_year)
    n = len(rows)
    if n < min_cell:
        return ExperienceFindings(n, None, None, [], True)
    asked = sum(1 for r in rows if r.answers.get(ASKED_ITEM) == "ya")
    gave = sum(1 for r in rows if r.answers.get(GAVE_ITEM) == "ya")
    details = []
    for qid in DETAIL_QUESTIONS:
        question = q.question(qid)
        if question is None:
            continue
        labels = dict(question.options)
        counts = Counter(labels.get(str(r.answers[qid]), str(r.answers[qid])) for r in rows if r.answers.get(qid))
        base = sum(counts.values())
        small = base < min_cell
        details.append(Distribution(question.text, base, {} if small else dict(counts.most_common()), small))
    return ExperienceFindings(n, round(asked / n, 4), round(gave / n, 4), details, False)


def score_institution(session: Session, campaign_id: int, *, include_flagged: bool = True,
                      min_cell: int | None = None) -> InstitutionScore:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    min_cell = min_cell if min_cell is not None else get_settings().min_cell_size
    rows = load_responses(session, campaign_id, include_flagged)
    units = {u.id: u.name for u in session.exec(
        select(Unit).where(Unit.institution_id == campaign.institution_id)).all()}
    groups: dict[str, GroupResult] = {}
    unit_rows: list[Breakdown] = []
    services: list[Breakdown] = []
    experts: list[Breakdown] = []
    year = campaign.year
    for group in GROUPS:
        mine = [r for r in rows if r.group == group]
        q = load_questionnaire(group, mine[0].questionnaire_year if mine else year)
        year = q.year
        layout = engine.build_layout(q)
        codes = engine.encode_answers(layout, [r.answers for r in mine])
        s = engine.score(layout, codes, np.zeros(len(mine), dtype=np.int64), 1)
        groups[group] = _group_result(s, 0, group, min_cell, q.year)
        if group in ("internal", "external"):
            unit_rows += _breakdowns(layout, codes, [r.unit_id for r in mine], units, group, min_cell,
                                     risk_map_year=q.year)
        if group == "external":
            services = _breakdowns(layout, codes, [r.service_type for r in mine], SERVICE_LABELS, group, min_cell)
        if group == "expert":
            experts = _breakdowns(layout, codes, [r.expert_group for r in mine], dict(q.expert_groups),
                                  group, min_cell, with_variables=True)
    correction_row = session.exec(select(CorrectionInput).where(CorrectionInput.campaign_id == campaign_id)).first()
    parts = {k: float(v) for k, v in (correction_row.parts if correction_row else {}).items()}
    correction = round2(sum(parts.values()))
    subs = [groups[g].index for g in GROUPS]
    index = None
    if all(v is not None for v in subs):
        w = weights(year)["integrity_index"]
        raw = sum(w[g] * float(groups[g].index) for g in GROUPS) - correction  # type: ignore[arg-type]
        index = round2(raw)
    history = {int(k): float(v) for k, v in (correction_row.history if correction_row else {}).items()}
    return InstitutionScore(
        campaign_id=campaign_id, institution_id=campaign.institution_id, year=campaign.year,
        min_cell=min_cell, include_flagged=include_flagged, groups=groups, units=unit_rows,
        service_types=services, expert_groups=experts,
        experience=_experience([r for r in rows if r.group == "external"], min_cell),
        correction_parts=parts, correction=correction, index=index,
        category=category(index) if index is not None else None, history=history,
    )


def set_correction(session: Session, campaign_id: int, parts: dict[str, float] | None = None,
                   history: dict[int, float] | None = None) -> CorrectionInput:
    """Record correction-factor points (PIC/KPK input) and earlier years' indices for a campaign."""
    for name, value in (parts or {}).items():
        if not isinstance(value, int | float) or value < 0 or value > 100:
            raise ValueError(f"correction part {name!r}: points between 0 and 100 expected, got {value!r}")
    row = session.exec(select(CorrectionInput).where(CorrectionInput.campaign_id == campaign_id)).first()
    if row is None:
        row = CorrectionInput(campaign_id=campaign_id)
    if parts is not None:
        row.parts = {k: float(v) for k, v in parts.items()}
    if history is not None:
        row.history = {str(k): float(v) for k, v in history.items()}
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row

