"""Integrity of a campaign: the signals with their evidence, flagging for review, reviewers'
decisions, and the survey-integrity inputs of KPK's correction factor.

Public functions (used by monitor/ and the CLI):
- `signals_for_campaign(session, campaign_id) -> IntegrityReport` (read only)
- `flag_campaign(session, campaign_id, actor) -> int` (persist Review rows, mark responses)
- `record_review(session, response_id, decision, reviewer, note=None) -> int`
- `correction_inputs(session, campaign_id) -> CorrectionInputs`
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import Session, col, func, select

from core import audit
from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope
from core.errors import SpibotError
from core.models import Campaign, Person, PersonStatus
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
from responses import Response, ResponseStatus

# Responses that did not come through the respondent's own link (interviewer / CAPI / imported).
INTERVIEWER_SOURCES = frozenset({"capi", "import"})


class ReviewError(SpibotError, ValueError):
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
    (docs/architecture.md §5) shown beside the index, not a points deduction.
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
    data_quality_by_form: dict[str, float | None] = field(default_factory=dict)  # internal, external...

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _all_flags(data: CampaignData, th: Thresholds) -> list[Flag]:
    flags: list[Flag] = []
    for batch in data.batches.values():
        flags += detect(batch, th, data.reminders, data.unit_sizes)
    for f in counter_burst(data.counter_ids, data.counter_keys, data.counter_times, th):
        response_id = data.response_of_assignment.get(f.response_id)
        if response_id is not None:  # a registration never answered has no response to mark
            flags.append(Flag(response_id, f.signal, _responses_only(f.evidence, data)))
    return flags


def _responses_only(evidence: dict[str, Any], data: CampaignData) -> dict[str, Any]:
    """Counter-burst evidence lists *assignment* ids, which lead to a person: keep only the
    responses they became, so no page or export can join the evidence to an identity."""
    members = [data.response_of_assignment[a] for a in evidence.get("members", [])
               if a in data.response_of_assignment]
    return {**evidence, "members": members}


def _summarise(campaign_id: int, unit_of: dict[int, int], flags: list[Flag],
               th: Thresholds) -> IntegrityReport:
    """Counts per signal and per unit (unit_of: response id -> unit id, -1 for none); units with
    fewer responses than MIN_CELL_SIZE are marked `small` so no page breaks them down."""
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


def signals_for_campaign(session: Session, campaign_id: int,
                         thresholds: Thresholds | None = None) -> IntegrityReport:
    """The signals computed afresh from the campaign's submitted responses (read only)."""
    th = thresholds or load_thresholds()
    data = load_campaign(session, campaign_id)
    flags = _all_flags(data, th)
    unit_of = {int(i): int(u) for b in data.batches.values() for i, u in zip(b.ids, b.unit_ids, strict=True)}
    return _summarise(campaign_id, unit_of, flags, th)


def stored_report(session: Session, campaign_id: int) -> IntegrityReport:
    """The flags stored by the last `flag_campaign` run (Review rows), summarised like
    `signals_for_campaign` but without recomputing anything: what the dashboard shows."""
    rows = session.exec(
        select(Response.id, Response.unit_id).where(
            Response.campaign_id == campaign_id, Response.status == ResponseStatus.submitted,
            col(Response.submitted_at).is_not(None))
    ).all()
    unit_of = {int(i): (int(u) if u is not None else -1) for i, u in rows if i is not None}
    reviews = session.exec(
        select(Review.response_id, Review.signal, Review.evidence)
        .where(Review.campaign_id == campaign_id).order_by(col(Review.response_id), col(Review.signal))
    ).all()
    flags = [Flag(int(r), str(sig), dict(ev or {})) for r, sig, ev in reviews]
    return _summarise(campaign_id, unit_of, flags, load_thresholds())


def last_flagged_at(session: Session, campaign_id: int) -> Any:
    """When the newest stored flag of the campaign was recorded (None: never checked or clean)."""
    return session.exec(select(func.max(Review.flagged_at)).where(Review.campaign_id == campaign_id)).one()


def flag_campaign(session: Session, campaign_id: int, actor: str = "system",
                  thresholds: Thresholds | None = None, *, audit_if_none: bool = True) -> int:
    """Store a Review row per new (response, signal) and mark the responses; returns new rows.

    Idempotent: an existing review (and its decision) is left as it is. The periodic job passes
    `audit_if_none=False`, so a run that finds nothing new leaves no audit row.
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
    if new or audit_if_none:
        campaign = session.get(Campaign, campaign_id)
        audit.record(session, actor, "integrity.flag", target=f"campaign:{campaign_id}",
                     institution_id=campaign.institution_id if campaign else None,
                     details={"new_reviews": new, "flagged_responses": report.flagged})
    session.flush()
    return new


def flag_open_campaigns(session_factory: Any = None) -> dict[str, int]:
    """Run `flag_campaign` on every open campaign, one write transaction each (the scheduler's
    job; idempotent). A failing campaign is logged and does not stop the others."""
    factory = session_factory or session_scope
    with factory() as session:
        ids = [int(c.id) for c in session.exec(select(Campaign).where(Campaign.status == "open"))
               if c.id is not None and c.is_open()]
    new = failed = 0
    for cid in ids:
        try:
            with factory(write=True) as session:
                new += flag_campaign(session, cid, "system:scheduler", audit_if_none=False)
        except Exception:  # noqa: BLE001 - one bad campaign must not stop the others
            failed += 1
            logging.getLogger("spibot.integrity").exception("integrity check failed for campaign %s", cid)
    return {"campaigns": len(ids), "new_reviews": new, "failed": failed}


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
                 institution_id=response.institution_id,
                 details={"decision": decision, "signals": sorted(r.signal for r in reviews)})
    session.flush()
    return len(reviews)


def population_totals(session: Session, institution_id: int) -> dict[str, dict[str, int]]:
    """Rows and clean rows per form (group) of the institution's population records: the `totals`
    of `population.quality.quality_report` (clean = any status but "unusable"), counted with one
    grouped query on the (institution_id, group, status) index instead of the whole report (which
    also reads every unusable record's name and source)."""
    totals: dict[str, dict[str, int]] = {}
    for group, status, n in session.exec(
        select(Person.group, Person.status, func.count())
        .where(Person.institution_id == institution_id).group_by(Person.group, Person.status)
    ):
        total = totals.setdefault(str(group), {"rows": 0, "clean": 0})
        total["rows"] += int(n)
        total["clean"] += int(n) if status != PersonStatus.unusable else 0
    return totals


def _data_quality(session: Session, institution_id: int) -> tuple[float | None, dict[str, float | None], str | None]:
    """Clean share of the institution's population records (all forms, and per form)."""
    totals = population_totals(session, institution_id)
    rows = sum(t["rows"] for t in totals.values())
    clean = sum(t["clean"] for t in totals.values())
    by_form = {form: (round(t["clean"] / t["rows"], 4) if t["rows"] else None)
               for form, t in sorted(totals.items())}
    if not rows:
        return None, by_form, "Kualitas data belum diketahui: data populasi belum diimpor."
    return round(clean / rows, 4), by_form, None


def _response_states(session: Session, campaign_id: int) -> list[tuple[int, str, str | None]]:
    """(id, source, review status) of the campaign's submitted responses."""
    rows = session.exec(
        select(Response.id, Response.source, Response.review_status).where(
            Response.campaign_id == campaign_id, Response.status == ResponseStatus.submitted,
            col(Response.submitted_at).is_not(None))
    ).all()
    return [(int(i), str(src), status) for i, src, status in rows if i is not None]


def correction_inputs(session: Session, campaign_id: int,
                      thresholds: Thresholds | None = None, *,
                      report: IntegrityReport | None = None) -> CorrectionInputs:
    """The measured inputs; from `report` when given (e.g. `stored_report`), else the signals
    computed afresh."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    report = report or signals_for_campaign(session, campaign_id, thresholds)
    states = _response_states(session, campaign_id)
    n = len(states)
    notes: list[str] = []
    quality, by_form, note = _data_quality(session, campaign.institution_id)
    if note:
        notes.append(note)
    cleared = {rid for rid, _, status in states if status == Decision.kept}
    excluded = {rid for rid, _, status in states if status == Decision.excluded}
    anomalous = {f.response_id for f in report.flags if f.signal in ANOMALY_SIGNALS} - cleared
    coached = {f.response_id for f in report.flags if f.signal in COACHING_SIGNALS} - cleared
    interviewer = sum(1 for _, source, _ in states if source in INTERVIEWER_SOURCES)
    pending = int(session.exec(select(func.count()).select_from(Review).where(
        Review.campaign_id == campaign_id, Review.decision == Decision.pending)).one())

    def share(k: int) -> float | None:
        return round(k / n, 4) if n else None

    if not n:
        notes.append("Belum ada respons yang dikirim.")
    return CorrectionInputs(
        campaign_id=campaign_id, responses=n, data_quality=quality,
        interviewer_share=share(interviewer), anomaly_share=share(len(anomalous)),
        coaching_share=share(len(coached)), excluded_share=share(len(excluded)),
        pending_reviews=pending, notes=notes, data_quality_by_form=by_form,
    )
