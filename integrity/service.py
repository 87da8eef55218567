"""Integrity of a campaign: the signals with their evidence, flagging for review, reviewers'
decisions, and the survey-integrity inputs of KPK's correction factor.

Public functions (used by monitor/ and the CLI):
- `signals_for_campaign(session, campaign_id) -> IntegrityReport` (read only)
- `flag_campaign(session, campaign_id, actor) -> int` (persist Review rows, mark responses)
- `record_review(session, response_id, decision, reviewer, note=None) -> int`
- `correction_inputs(session, campaign_id) -> CorrectionInputs`
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import Session, select

from core import audit
from core.clock import utcnow
from core.config import get_settings
from integrity.adapter import CampaignData, load_campaign
from integrity.models import Decision, Review
from integrity.signals import (
    ALL_SIGNALS,
    ANOMALY_SIGNALS,
    COACHING_SIGNALS,
    Flag,
    Thresholds,
    counter_burst,
    detect,
    load_thresholds,
)
from responses.models import Response

# Responses that did not come through the respondent's own link (interviewer / CAPI / imported).
INTERVIEWER_SOURCES = frozenset({"capi", "import"})


class ReviewError(ValueError):
    """A review decision that cannot be recorded (unknown response or decision)."""


@dataclass
class UnitSignals:
    unit_id: int | None
    responses: int
    flagged: int
    by_signal: dict[str, int]
    small: bool  # fewer responses than MIN_CELL_SIZE: show no breakdown


@dataclass
class IntegrityReport:
    campaign_id: int
    responses: int
    flagged: int  # distinct responses with at least one flag
    by_signal: dict[str, int]
    units: list[UnitSignals]
    flags: list[Flag]
    thresholds: dict[str, Any] = field(default_factory=dict)

    def flags_of(self, response_id: int) -> list[Flag]:
        return [f for f in self.flags if f.response_id == response_id]


@dataclass
class CorrectionInputs:
    """Survey-integrity inputs of the correction factor, as shares in [0, 1] (None = unknown).

    KPK publishes the correction factor but not its formula; these are the measurable inputs
    (SPEC §6) shown beside the index, not a points deduction.
    """

    campaign_id: int
    responses: int
    data_quality: float | None  # clean share of the population records (population intake)
    interviewer_share: float | None  # responses reached only by an interviewer (CAPI / import)
    anomaly_share: float | None  # answer anomalies (straight-lining, too fast), not cleared
    coaching_share: float | None  # pengkondisian signals, not cleared by a reviewer
    excluded_share: float | None  # responses reviewers excluded as compromised
    pending_reviews: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _all_flags(data: CampaignData, th: Thresholds) -> list[Flag]:
    flags: list[Flag] = []
    for batch in data.batches.values():
        flags += detect(batch, th, data.reminders, data.unit_sizes)
    for f in counter_burst(data.counter_ids, data.counter_keys, data.counter_times, th):
        response_id = data.response_of_assignment.get(f.response_id)
        if response_id is not None:  # a registration never answered has no response to mark
            flags.append(Flag(response_id, f.signal, f.evidence))
    return flags


def signals_for_campaign(session: Session, campaign_id: int,
                         thresholds: Thresholds | None = None) -> IntegrityReport:
    th = thresholds or load_thresholds()
    data = load_campaign(session, campaign_id)
    flags = _all_flags(data, th)
    unit_of = {int(i): int(u) for b in data.batches.values() for i, u in zip(b.ids, b.unit_ids, strict=True)}
    per_unit_n: Counter[int] = Counter(unit_of.values())
    per_unit_flagged: dict[int, set[int]] = defaultdict(set)
    per_unit_signal: dict[int, Counter[str]] = defaultdict(Counter)
    for f in flags:
        u = unit_of.get(f.response_id, -1)
        per_unit_flagged[u].add(f.response_id)
        per_unit_signal[u][f.signal] += 1
    min_cell = get_settings().min_cell_size
    units = [
        UnitSignals(unit_id=None if u < 0 else u, responses=n, flagged=len(per_unit_flagged[u]),
                    by_signal=dict(per_unit_signal[u]), small=n < min_cell)
        for u, n in sorted(per_unit_n.items())
    ]
    by_signal = Counter(f.signal for f in flags)
    return IntegrityReport(
        campaign_id=campaign_id, responses=len(unit_of),
        flagged=len({f.response_id for f in flags}),
        by_signal={s: by_signal.get(s, 0) for s in ALL_SIGNALS}, units=units, flags=flags,
        thresholds=asdict(th),
    )


def flag_campaign(session: Session, campaign_id: int, actor: str = "system",
                  thresholds: Thresholds | None = None) -> int:
    """Store a Review row per new (response, signal) and mark the responses; returns new rows.

    Idempotent: an existing review (and its decision) is left as it is.
    """
    report = signals_for_campaign(session, campaign_id, thresholds)
    existing = set(session.exec(
        select(Review.response_id, Review.signal).where(Review.campaign_id == campaign_id)
    ).all())
    now = utcnow()
    new = 0
    seen: set[tuple[int, str]] = set()
    for f in report.flags:
        key = (f.response_id, f.signal)
        if key in existing or key in seen:
            continue
        seen.add(key)
        response = session.get(Response, f.response_id)
        if response is None:
            continue
        session.add(Review(campaign_id=campaign_id, response_id=f.response_id,
                           unit_id=response.unit_id, signal=f.signal, evidence=f.evidence,
                           flagged_at=now))
        response.flagged = True
        if response.review_status is None:
            response.review_status = Decision.pending
        session.add(response)
        new += 1
    audit.record(session, actor, "integrity.flag", target=f"campaign:{campaign_id}",
                 details={"new_reviews": new, "flagged_responses": report.flagged})
    session.flush()
    return new


def record_review(session: Session, response_id: int, decision: str, reviewer: str,
                  note: str | None = None) -> int:
    """Record a reviewer's decision on every flag of a response: "kept" (counted) or "excluded".

    The response itself is never deleted; scoring leaves out excluded responses when asked.
    Returns the number of Review rows updated.
    """
    if decision not in (Decision.kept, Decision.excluded, Decision.pending):
        raise ReviewError(f"unknown decision {decision!r}: use 'kept' or 'excluded'")
    response = session.get(Response, response_id)
    if response is None:
        raise ReviewError(f"response {response_id} does not exist")
    reviews = session.exec(select(Review).where(Review.response_id == response_id)).all()
    if not reviews:
        raise ReviewError(f"response {response_id} has no integrity flag to review")
    now = utcnow()
    for r in reviews:
        r.decision, r.reviewer, r.note, r.decided_at = decision, reviewer, note, now
        session.add(r)
    response.review_status = decision
    session.add(response)
    audit.record(session, reviewer, "integrity.review", target=f"response:{response_id}",
                 details={"decision": decision, "signals": sorted(r.signal for r in reviews)})
    session.flush()
    return len(reviews)


def _data_quality(session: Session, institution_id: int) -> tuple[float | None, str | None]:
    try:
        from population.quality import quality_report  # type: ignore[import-not-found]
    except ImportError:
        return None, "data quality unavailable: population.quality is not installed"
    try:
        report = quality_report(session, institution_id)
    except Exception as exc:  # noqa: BLE001 - shown as a note, never breaks the page
        return None, f"data quality unavailable: {exc}"
    for name in ("clean_share", "clean_ratio", "clean_pct", "clean_percent"):
        value = getattr(report, name, None)
        if value is None and isinstance(report, dict):
            value = report.get(name)
        if isinstance(value, int | float):
            return (float(value) / 100 if name.endswith(("pct", "percent")) else float(value)), None
    return None, "data quality unavailable: quality report has no clean share"


def correction_inputs(session: Session, campaign_id: int,
                      thresholds: Thresholds | None = None) -> CorrectionInputs:
    report = signals_for_campaign(session, campaign_id, thresholds)
    data = load_campaign(session, campaign_id)
    n = len(data.sources)
    notes: list[str] = []
    quality, note = _data_quality(session, data.campaign.institution_id)
    if note:
        notes.append(note)
    cleared = {rid for rid, status in data.review_status.items() if status == Decision.kept}
    excluded = {rid for rid, status in data.review_status.items() if status == Decision.excluded}
    anomalous = {f.response_id for f in report.flags if f.signal in ANOMALY_SIGNALS} - cleared
    coached = {f.response_id for f in report.flags if f.signal in COACHING_SIGNALS} - cleared
    interviewer = sum(1 for s in data.sources.values() if s in INTERVIEWER_SOURCES)
    pending = len(session.exec(select(Review.id).where(
        Review.campaign_id == campaign_id, Review.decision == Decision.pending)).all())

    def share(k: int) -> float | None:
        return round(k / n, 4) if n else None

    if not n:
        notes.append("no submitted responses yet")
    return CorrectionInputs(
        campaign_id=campaign_id, responses=n, data_quality=quality,
        interviewer_share=share(interviewer), anomaly_share=share(len(anomalous)),
        coaching_share=share(len(coached)), excluded_share=share(len(excluded)),
        pending_reviews=pending, notes=notes,
    )
