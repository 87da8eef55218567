"""Respondent profile per survey group (KPK report §4.1): the answers to the questionnaire's
profile page (gender, age band, education, tenure, service type, expert criteria... whatever the
page `profil` of each group's questionnaire asks: data, not code) as counts.

Minimum cell size (settings.min_cell_size, the same `min_cell` scoring applies): a group with
fewer respondents shows no profile at all; a count of 1..min_cell-1 is suppressed (None, shown
"<n"); when exactly one cell of a question is suppressed, the next smallest non-zero cell is
suppressed too, so the hidden one cannot be recovered from the total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, select

from responses import GROUPS, Response, ResponseStatus, load_questionnaire

PROFILE_PAGE = "profil"
NOT_ANSWERED = "Tidak diisi"


@dataclass
class ProfileRow:
    label: str
    count: int | None  # None: suppressed (fewer than min_cell, or to protect such a cell)
    share: float | None


@dataclass
class ProfileTable:
    group: str
    question: str  # question id
    title: str
    base: int
    rows: list[ProfileRow]


@dataclass
class GroupProfile:
    group: str
    n: int
    suppressed: bool
    tables: list[ProfileTable]


def counted_responses(session: Session, campaign_id: int, include_flagged: bool = True) -> list[Response]:
    """The responses scoring counts (responses.scoring.institution.load_responses, same rule)."""
    stmt = select(Response).where(Response.campaign_id == campaign_id, Response.status == ResponseStatus.submitted)
    rows = [r for r in session.exec(stmt).all() if r.review_status != "excluded"]
    if not include_flagged:
        rows = [r for r in rows if not r.flagged or r.review_status == "kept"]
    return rows


def suppress(counts: list[tuple[str, int]], min_cell: int) -> list[tuple[str, int | None]]:
    """Primary (1..min_cell-1) and secondary (a lone suppressed cell takes the next smallest) suppression."""
    hidden = {i for i, (_, c) in enumerate(counts) if 0 < c < min_cell}
    if len(hidden) == 1:
        others = sorted((c, i) for i, (_, c) in enumerate(counts) if i not in hidden and c > 0)
        if others:
            hidden.add(others[0][1])
    return [(label, None if i in hidden else c) for i, (label, c) in enumerate(counts)]


def profile_table(group: str, question_id: str, title: str, options: list[tuple[str, str]],
                  answers: Sequence[object], min_cell: int) -> ProfileTable:
    tally = Counter("" if a is None or a == "" else str(a) for a in answers)
    counts = [(label, tally.pop(code, 0)) for code, label in options]
    missing = tally.pop("", 0) + sum(tally.values())  # unknown codes count as not answered
    if missing:
        counts.append((NOT_ANSWERED, missing))
    base = len(answers)
    rows = [ProfileRow(label, c, round(c / base, 4) if c is not None and base else None)
            for label, c in suppress(counts, min_cell)]
    return ProfileTable(group, question_id, title, base, rows)


def group_profiles(session: Session, campaign_id: int, year: int, min_cell: int,
                   include_flagged: bool = True) -> list[GroupProfile]:
    rows = counted_responses(session, campaign_id, include_flagged)
    out = []
    for group in GROUPS:
        mine = [r for r in rows if r.group == group]
        q = load_questionnaire(group, mine[0].questionnaire_year if mine else year)
        page = next((p for p in q.pages if p.id == PROFILE_PAGE), None)
        questions = [x for x in (page.questions if page else ()) if x.options and not x.scored]
        if len(mine) < min_cell:
            out.append(GroupProfile(group, len(mine), True, []))
            continue
        tables = [profile_table(group, x.id, x.text, list(x.options), [r.answers.get(x.id) for r in mine], min_cell)
                  for x in questions]
        out.append(GroupProfile(group, len(mine), False, tables))
    return out
