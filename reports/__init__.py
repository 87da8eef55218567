"""The institution report (KPK report chapter 4 shape): one `Report`, three renderings.

`build_report(session, campaign_id, include_flagged=True) -> Report` scores the campaign (minimum
cell size already enforced in `score_institution`) and adds participation and the action-plan
matrix; `render_html(report) -> str`, `write_pdf(report, path_or_buffer)` and
`write_xlsx(report, path_or_buffer)` only lay that out. The monitor mounts them behind its login.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlmodel import Session, select

from core.clock import utcnow
from core.datafiles import read_yaml
from core.labels import labels
from core.models import Campaign, Group, Institution, Unit
from integrity import correction_inputs
from reports.correction import FormulaView, formula_view, set_kpk_inputs, simulate
from reports.correction import correction_view as _correction_view
from reports.history import (
    HistoryPoint,
    Ranking,
    history,
    ranking,
    report_settings,
    set_history,
    target,
)
from reports.profile import GroupProfile, group_profiles
from responses import (
    DATA_DIR,
    GROUPS,
    CorrectionInput,
    InstitutionScore,
    load_questionnaire,
    response_counts,
    score_institution,
)

__all__ = ["Report", "build_report", "render_html", "write_pdf", "write_xlsx"]
# issue 24: history entered once, KPK-only correction parts with their source, the simulator
__all__ += ["set_history", "set_kpk_inputs", "simulate"]

GROUP_LABELS = labels("group")  # core/data/labels.yaml; kept as a name for the report modules
SEVERITY = {"Sangat Tinggi": 0, "Tinggi": 1, "Di bawah rata-rata": 2, "Sedang": 3, "Rendah": 4,
            "Di atas rata-rata": 5}


@lru_cache
def recommendations() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA_DIR / "recommendations.yaml")
    return data


@dataclass
class UnitParticipation:
    unit_id: int | None
    name: str
    assigned: dict[str, int]  # per survey group
    responded: dict[str, int]
    rate: float | None  # responded / assigned, all groups
    lowest: bool = False


@dataclass
class ActionRow:
    level: str
    group: str
    dimension: str
    variable: str
    levels: str  # "keberadaan: Tinggi; risiko: Sedang"
    recommendation: str
    mcp_area: str
    timing: str


@dataclass
class LowUnit:
    """One of the lowest units of a group, with its weakest dimensions (label, score)."""

    group: str
    label: str
    n: int
    index: float
    category: str | None
    weakest: list[tuple[str, float]]


@dataclass
class Report:
    institution: str
    campaign: str
    year: int
    generated_at: datetime
    score: InstitutionScore
    respondents: dict[str, tuple[int, int]]  # group -> (assigned, responded)
    participation: list[UnitParticipation]
    dimension_labels: dict[str, str]
    variable_labels: dict[tuple[str, str], str]
    actions: list[ActionRow]
    signals: Any | None = None
    notes: list[str] = field(default_factory=list)
    profiles: list[GroupProfile] = field(default_factory=list)
    history: list[HistoryPoint] = field(default_factory=list)  # earlier years and this one
    target: float | None = None
    ranking: Ranking | None = None
    lowest_units: list[LowUnit] = field(default_factory=list)
    formula: FormulaView | None = None


def _labels(year: int) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    dims = {k: v["label"] for k, v in recommendations()["dimensions"].items()}
    variables: dict[tuple[str, str], str] = {}
    for group in GROUPS:
        for item in load_questionnaire(group, year).items:
            variables.setdefault((group, str(item.variable)), str(item.reference))
    return dims, variables


def _participation(session: Session, campaign: Campaign) -> tuple[list[UnitParticipation], dict[str, tuple[int, int]]]:
    units = {u.id: u.name
             for u in session.exec(select(Unit).where(Unit.institution_id == campaign.institution_id)).all()}
    rows: dict[int | None, UnitParticipation] = {}
    totals: dict[str, list[int]] = {g: [0, 0] for g in GROUPS}
    for (unit_id, group), c in response_counts(session, campaign.id).items():  # type: ignore[arg-type]
        sg = Group(group).survey_group if group in Group.__members__ else group
        row = rows.setdefault(unit_id, UnitParticipation(
            unit_id, units.get(unit_id, "Tanpa unit") if unit_id else "Tanpa unit", {}, {}, None))
        row.assigned[sg] = row.assigned.get(sg, 0) + c.assigned
        row.responded[sg] = row.responded.get(sg, 0) + c.responded
        if sg in totals:
            totals[sg][0] += c.assigned
            totals[sg][1] += c.responded
    out = sorted(rows.values(), key=lambda r: r.name)
    for r in out:
        assigned = sum(r.assigned.values())
        r.rate = round(sum(r.responded.values()) / assigned, 4) if assigned else None
    ranked = sorted((r for r in out if r.rate is not None and r.unit_id is not None), key=lambda r: (r.rate, r.name))
    for r in ranked[:3]:
        r.lowest = True
    return out, {g: (v[0], v[1]) for g, v in totals.items()}


def _actions(score: InstitutionScore, dims: dict[str, str], variables: dict[tuple[str, str], str]) -> list[ActionRow]:
    rec = recommendations()
    rows = []
    for group, result in score.groups.items():
        by_var: dict[str, list[Any]] = {}
        for item in result.items:
            if item.level is not None:
                by_var.setdefault(item.variable, []).append(item)
        for variable, items in by_var.items():
            worst = min(items, key=lambda i: SEVERITY[i.level])
            dim = worst.dimension
            dim_rec = rec["dimensions"].get(dim, {"text": "", "mcp": ""})
            lvl = rec["levels"][worst.level]
            rows.append(ActionRow(
                level=worst.level, group=group, dimension=dims.get(dim, dim),
                variable=variables.get((group, variable), variable),
                levels="; ".join(f"{i.kind}: {i.level}" for i in items),
                recommendation=f"{lvl['text']} {dim_rec['text']}".strip(),
                mcp_area=dim_rec.get("mcp", ""), timing=lvl.get("timing", ""),
            ))
    return sorted(rows, key=lambda r: (SEVERITY[r.level], r.group, r.dimension))


def _lowest_units(score: InstitutionScore, dims: dict[str, str]) -> list[LowUnit]:
    cfg = report_settings()
    out = []
    for group in ("internal", "external"):
        shown = sorted((u for u in score.units if u.group == group and u.index is not None),
                       key=lambda u: (u.index, u.label))
        for u in shown[: int(cfg["lowest_units"])]:
            known = sorted(((v, d) for d, v in u.dimensions.items() if v is not None))
            weakest = [(dims.get(d, d), v) for v, d in known[: int(cfg["weakest_dimensions"])]]
            out.append(LowUnit(group, u.label, u.n, float(u.index), u.category, weakest))  # type: ignore[arg-type]
    return out


def _history(session: Session, campaign: Campaign, score: InstitutionScore) -> list[HistoryPoint]:
    points = [p for p in history(session, campaign.institution_id, score.history) if p.year != campaign.year]
    g = score.groups
    points.append(HistoryPoint(campaign.year, score.index, g["internal"].index, g["external"].index,
                               g["expert"].index, "spibot"))
    return points


def _signals(session: Session, campaign_id: int) -> Any:

    return correction_inputs(session, campaign_id)


def build_report(session: Session, campaign_id: int, *, include_flagged: bool = True) -> Report:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    institution = session.get(Institution, campaign.institution_id)
    score = score_institution(session, campaign_id, include_flagged=include_flagged)
    dims, variables = _labels(campaign.year)
    participation, respondents = _participation(session, campaign)
    signals = _signals(session, campaign_id)
    kpk = session.exec(select(CorrectionInput).where(CorrectionInput.campaign_id == campaign_id)).first()
    notes = [f"Kelompok dengan kurang dari {score.min_cell} responden tidak ditampilkan untuk menjaga kerahasiaan."]
    if not include_flagged:
        notes.append("Jawaban yang ditandai oleh pemeriksaan integritas tidak dihitung.")
    return Report(
        institution=institution.name if institution else "", campaign=campaign.name, year=campaign.year,
        generated_at=utcnow(), score=score, respondents=respondents, participation=participation,
        dimension_labels=dims, variable_labels=variables, actions=_actions(score, dims, variables),
        signals=signals, notes=notes,
        profiles=group_profiles(session, campaign_id, campaign.year, score.min_cell, include_flagged),
        history=_history(session, campaign, score), target=target(),
        ranking=ranking(session, institution, campaign.year, score.index) if institution else None,
        lowest_units=_lowest_units(score, dims),
        formula=formula_view(signals, kpk.kpk_inputs if kpk else None),
    )


def correction_view(report: Report) -> Any:
    """Measured integrity signals beside the entered correction points (see reports.correction)."""
    return _correction_view(report.signals, report.score.correction_parts, report.score.correction)


def render_html(report: Report) -> str:
    # here, not at the top: reports.html imports Report from this module (cycle)
    from reports.html import render

    return render(report)


def write_pdf(report: Report, path_or_buffer: Any) -> None:
    # here, not at the top: reports.pdf imports Report from this module (cycle); its reportlab
    # charts and platypus also add ~50-90 ms to web start (measured 2026-12-07)
    from reports.pdf import write

    write(report, path_or_buffer)


def write_xlsx(report: Report, path_or_buffer: Any) -> None:
    # here, not at the top: reports.xlsx imports Report from this module (cycle)
    from reports.xlsx import write

    write(report, path_or_buffer)
