"""Reserves called up from the dashboard: with a reason, listed, and undone before their
invitation goes.

Calling one is `population.sampling.replace_with_reserve` (the unit's next reserve in drawn
order gets an active assignment, invited at once if the invitation wave already ran); here it
also records why (REASONS, a short note, phone numbers and addresses in it masked) in its audit record, which
names the assignment (`call_reserve_with_reason`).

Undoing one (`undo_reserve`) is allowed while nothing was sent to the reserve: no outbox row of
theirs went past `pending` (a row cancelled earlier counts as not sent) and they have not
answered. Their pending rows are cancelled through `dispatch.holds.cancel` (they fail as
`cancelled` and stay in the outbox as the record of it), then the assignment is removed, so the
reserve is back at their place in the unit's reserve list and the next call takes them again:
the sample is as it was before the call. A message claimed by a worker meanwhile is found after
the cancel and refuses the undo (the caller's transaction rolls back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, not_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from core.audit import AuditLog
from core.audit import record as audit
from core.masking import mask_text
from core.models import Assignment, AssignmentKind, Campaign, Unit
from dispatch import Outbox, Status, holds
from population.errors import SamplingError
from population.sampling import replace_with_reserve

REASONS = ("nomor_tidak_aktif", "pindah_tugas", "menolak", "lainnya")  # labels: core/data/labels.yaml
OTHER = "lainnya"  # needs a note
NOTE_MAX = 200
STATUS_ORDER = (Status.pending, Status.sending, Status.unknown, Status.sent, Status.failed, Status.delivered,
                Status.read)


@dataclass
class CalledReserve:
    """A reserve with an assignment in the campaign, as the page "Sampel" lists it."""

    assignment_id: int
    unit_code: str
    unit_name: str
    group: str  # the draw group: internal | external (vendors are drawn with external)
    rank: int | None
    called_at: datetime | None
    actor: str
    reason: str | None  # a code of REASONS; None for a call recorded before reasons
    note: str
    message: str | None  # furthest outbox status of their messages; None: nothing queued yet
    responded: bool
    undoable: bool


def call_reserve_with_reason(session: Session, campaign: Campaign, unit_code: str, group: str, *, reason: str,
                 note: str = "", actor: str) -> tuple[Assignment | None, int]:
    """Call up the unit's next reserve (`replace_with_reserve`) and record why. Returns
    (assignment or None when the list is used up, invitations enqueued). The caller commits."""
    if reason not in REASONS:
        raise SamplingError("Pilih alasan pemanggilan cadangan.")
    note = mask_text(" ".join(note.split()))[:NOTE_MAX]  # a number or address typed in is masked
    if reason == OTHER and not note:
        raise SamplingError("Tuliskan keterangan untuk alasan Lainnya.")
    return replace_with_reserve(session, campaign, unit_code, group, actor, {"reason": reason, "note": note})


class ReserveNotFound(SamplingError):
    """No called reserve with that assignment id in the campaign."""


def _reserve(session: Session, campaign: Campaign, assignment_id: int) -> Assignment:
    assignment = session.get(Assignment, assignment_id)
    if assignment is None or assignment.campaign_id != campaign.id or assignment.kind != AssignmentKind.reserve:
        raise ReserveNotFound("Cadangan ini tidak ditemukan di kampanye ini.")
    return assignment


def _not_sent() -> Any:
    """An outbox row that took nothing out: waiting, or cancelled before it went."""
    return (col(Outbox.status) == Status.pending) | (
        (col(Outbox.status) == Status.failed) & (col(Outbox.error_class) == "cancelled"))


def _sent_rows(session: Session, assignment_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Outbox).where(
        col(Outbox.assignment_id) == assignment_id, not_(_not_sent()))) or 0)


def undo_reserve(session: Session, campaign: Campaign, assignment_id: int, *, actor: str) -> int:
    """Undo a called reserve (module docstring). Returns the messages cancelled; raises
    SamplingError (Indonesian, for the PIC) when it cannot be undone. The caller commits."""
    assert campaign.id is not None
    assignment = _reserve(session, campaign, assignment_id)
    if assignment.responded_at is not None:
        raise SamplingError("Pemanggilan tidak bisa dibatalkan: cadangan ini sudah mengisi survei.")
    refused = SamplingError("Pemanggilan tidak bisa dibatalkan: undangan untuk cadangan ini sudah dikirim. "
                            "Cadangan tetap menjadi responden.")
    if _sent_rows(session, assignment_id):
        raise refused
    cancelled = holds.cancel(session, campaign.id, actor=actor, institution_id=campaign.institution_id,
                             assignment_id=assignment_id)
    if _sent_rows(session, assignment_id):  # claimed by a worker between the check and the cancel
        raise refused
    unit = session.get(Unit, assignment.unit_id) if assignment.unit_id is not None else None
    details = {"assignment": assignment_id, "unit": unit.code if unit else None, "group": assignment.group,
               "rank": assignment.reserve_rank, "cancelled": cancelled}
    try:
        with session.begin_nested():
            session.delete(assignment)
            session.flush()
    except IntegrityError as exc:  # something else refers to it (an opened form): not undone
        raise SamplingError("Pemanggilan tidak bisa dibatalkan: cadangan ini sudah membuka tautan survei.") from exc
    audit(session, actor, "sample.reserve.undo", institution_id=campaign.institution_id,
          target=f"campaign:{campaign.id}", details=details)
    session.flush()
    return cancelled


def called_reserves(session: Session, campaign: Campaign) -> list[CalledReserve]:
    """The campaign's called reserves with why, by whom and how far their invitation got."""
    assert campaign.id is not None
    rows = session.execute(
        select(Assignment, Unit.code, Unit.name)  # type: ignore[call-overload]
        .outerjoin(Unit, col(Unit.id) == col(Assignment.unit_id))
        .where(col(Assignment.campaign_id) == campaign.id, col(Assignment.kind) == AssignmentKind.reserve)
        .order_by(col(Assignment.created_at), col(Assignment.id))).all()
    if not rows:
        return []
    ids = [a.id for a, _, _ in rows]
    calls: dict[int, AuditLog] = {}
    for call in session.scalars(select(AuditLog).where(
            col(AuditLog.action) == "sample.reserve", col(AuditLog.target) == f"campaign:{campaign.id}")
            .order_by(col(AuditLog.id))):
        aid = call.details.get("assignment")
        if isinstance(aid, int):
            calls[aid] = call
    statuses: dict[int, set[str]] = {}
    sent: set[int] = set()
    for aid, status, error_class in session.execute(
            select(col(Outbox.assignment_id), col(Outbox.status), col(Outbox.error_class))
            .where(col(Outbox.assignment_id).in_(ids), col(Outbox.campaign_id) == campaign.id)):
        if status == Status.failed and error_class == "cancelled":
            continue
        statuses.setdefault(aid, set()).add(status)
        if status != Status.pending:
            sent.add(aid)
    found = []
    for a, code, name in rows:
        entry: AuditLog | None = calls.get(a.id)
        details = entry.details if entry is not None else {}
        seen = statuses.get(a.id, set())
        message = next((s.value for s in reversed(STATUS_ORDER) if s in seen), None)
        found.append(CalledReserve(
            a.id, code or "-", name or "-", "internal" if a.group == "internal" else "external", a.reserve_rank,
            entry.at if entry is not None else a.created_at, entry.actor if entry is not None else "-",
            details.get("reason"), str(details.get("note") or ""), message, a.responded_at is not None,
            a.responded_at is None and a.id not in sent))
    return found


__all__ = ["NOTE_MAX", "OTHER", "REASONS", "CalledReserve", "ReserveNotFound", "call_reserve_with_reason",
           "called_reserves", "undo_reserve"]

