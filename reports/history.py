"""Index history (earlier years entered once) and the ranking among peer institutions.

History: one `IndexHistory` row per institution and year (published by KPK and entered once, or
stored by spibot when a report is written); the report draws index and sub-indices over the
years with the Bappenas target (reports/data/report.yaml).

Ranking: institutions of the same peer class only (provinsi; kabupaten/kota; kementerian/lembaga,
from Institution.kind), on the indices of that year in the system (`IndexHistory`), this
institution's own computed index taking the place of its stored one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from core.clock import utcnow
from core.datafiles import read_yaml
from core.models import Institution
from responses import IndexHistory

DATA = Path(__file__).resolve().parent / "data"


@lru_cache
def report_settings() -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(DATA / "report.yaml")
    return data


def target() -> float:
    return float(report_settings()["target"]["value"])


@dataclass
class HistoryPoint:
    year: int
    index: float | None
    internal: float | None
    external: float | None
    expert: float | None
    source: str


@dataclass
class Ranking:
    peer_class: str
    rank: int  # 1 = highest index
    of: int
    rows: list[tuple[int, str, float, bool]]  # (rank, institution, index, is this institution)


def set_history(session: Session, institution_id: int, year: int, index: float, *, internal: float | None = None,
                external: float | None = None, expert: float | None = None, source: str = "") -> IndexHistory:
    """Enter (or correct) one year's results of an institution."""
    for name, v in (("index", index), ("internal", internal), ("external", external), ("expert", expert)):
        if v is not None and not 0.0 <= float(v) <= 100.0:
            raise ValueError(f"{name} {v!r}: a value between 0 and 100 expected")
    row = session.exec(select(IndexHistory).where(IndexHistory.institution_id == institution_id,
                                                  IndexHistory.year == year)).first()
    row = row or IndexHistory(institution_id=institution_id, year=year, index=index)
    row.index, row.internal, row.external, row.expert = index, internal, external, expert
    row.source, row.entered_at = source, utcnow()
    session.add(row)
    session.flush()
    return row


def history(session: Session, institution_id: int, legacy: dict[int, float] | None = None) -> list[HistoryPoint]:
    """Earlier years, oldest first; `legacy` (CorrectionInput.history: index only) fills years
    the history table does not have."""
    rows = session.exec(select(IndexHistory).where(IndexHistory.institution_id == institution_id)).all()
    points = {r.year: HistoryPoint(r.year, r.index, r.internal, r.external, r.expert, r.source) for r in rows}
    for year, value in (legacy or {}).items():
        points.setdefault(int(year), HistoryPoint(int(year), float(value), None, None, None, "koreksi"))
    return [points[y] for y in sorted(points)]


def peer_class(kind: str) -> str | None:
    classes: dict[str, str] = report_settings()["peer_classes"]
    return classes.get(kind.strip().lower())


def ranking(session: Session, institution: Institution, year: int, own_index: float | None) -> Ranking | None:
    """Rank among the same peer class that year; None when fewer than two peers have a result."""
    mine = peer_class(institution.kind)
    if mine is None:
        return None
    kinds = [k for k, c in report_settings()["peer_classes"].items() if c == mine]
    insts = {i.id: i.name for i in session.exec(select(Institution)).all() if i.kind.strip().lower() in kinds}
    stored = session.exec(select(IndexHistory).where(IndexHistory.year == year)).all()
    values = {r.institution_id: r.index for r in stored if r.institution_id in insts}
    if own_index is not None:
        values[institution.id] = own_index  # type: ignore[index]
    if len(values) < 2 or institution.id not in values:
        return None
    ordered = sorted(values.items(), key=lambda kv: (-kv[1], insts[kv[0]]))
    rows: list[tuple[int, str, float, bool]] = []
    for n, (iid, value) in enumerate(ordered):
        # ties share the better rank (competition ranking, "1, 2, 2, 4")
        rank = rows[-1][0] if rows and rows[-1][2] == value else n + 1
        rows.append((rank, insts[iid], value, iid == institution.id))
    own = next(r for r in rows if r[3])
    return Ranking(mine, own[0], len(rows), rows)


def store_result(session: Session, report: Any) -> IndexHistory | None:
    """Keep a written report's own index as that year's result (source "spibot") so that peers'
    reports can rank it; a figure entered from KPK for that year is never overwritten."""
    s = report.score
    existing = session.exec(select(IndexHistory).where(IndexHistory.institution_id == s.institution_id,
                                                       IndexHistory.year == report.year)).first()
    if s.index is None or (existing is not None and existing.source != "spibot"):
        return None
    g = s.groups
    return set_history(session, s.institution_id, report.year, s.index, internal=g["internal"].index,
                       external=g["external"].index, expert=g["expert"].index, source="spibot")
