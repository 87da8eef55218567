"""The WhatsApp templates after `spibot templates --create`: submit each configured Content SID
for WhatsApp review, read back its status and category, and keep the dispatcher off a template
WhatsApp would not deliver as UTILITY.

    submit(session)             `--submit`: one approval request per template never submitted
    fetch_approvals()           the network half of a sync (no database session held meanwhile)
    sync_approvals(session)     `--status`, and the scheduler every 15 minutes (Twilio only):
                                store each approval (TemplateApproval); a template not approved,
                                or re-categorised by Meta away from UTILITY, gets a template hold
                                (its rows stay pending, nothing fails) and one admin alert;
                                approved as UTILITY again, the hold is lifted and the rest goes,
                                each once (the outbox key)

Campaign-level Content SID overrides (`config.content_sids`) are not synced here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from core.clock import utcnow
from core.config import get_settings
from core.db import session_scope
from dispatch import alerts, holds
from dispatch.channels.twilio.content_api import (
    Approval,
    ContentApiError,
    fetch_approval,
    submit_approval,
)
from dispatch.content import WHATSAPP_TEMPLATES, content_sid
from dispatch.models import Hold, HoldScope, TemplateApproval

log = logging.getLogger("spibot.dispatch")
CATEGORY = "UTILITY"  # docs/whatsapp.md §2: an invitation must stay UTILITY
# Part of the name submitted to WhatsApp. A changed text needs a new content (`--create`) and a
# new name: bump this with the texts in templates/whatsapp/.
VERSION = 1
HOLD_CODE = "template"
ACTOR = "system:templates"
NOT_FOUND = "not_found"  # our status for a Content SID the account does not have


def approval_name(template: str) -> str:
    """The WhatsApp template name, e.g. `spi_invitation_v1`."""
    return f"spi_{template}_v{VERSION}"


@dataclass(frozen=True)
class Submitted:
    """What `submit` did for one template: `action` is submitted, skipped or error."""

    template: str
    content_sid: str
    action: str
    status: str
    note: str = ""


@dataclass(frozen=True)
class TemplateState:
    """One template after a sync. `change`: held, resumed or "" (nothing changed); `error`: the
    approval could not be read (holds and the stored approval are then left as they were)."""

    template: str
    content_sid: str
    status: str
    category: str | None
    rejection_reason: str = ""
    held: bool = False
    change: str = ""
    error: str = ""


def problem_of(approval: Approval) -> str | None:
    """Why WhatsApp would not deliver this template as UTILITY (English), or None."""
    if approval.status == NOT_FOUND:
        return f"Content {approval.content_sid} does not exist for this Twilio account"
    if approval.status != "approved":
        reason = f": {approval.rejection_reason}" if approval.rejection_reason else ""
        return f"status is {approval.status}, not approved{reason}"
    if approval.category != CATEGORY:
        return f"approved as {approval.category or 'no category'}, not {CATEGORY} (re-categorised by Meta)"
    return None


def _store(session: Session, template: str, approval: Approval) -> None:
    row = session.get(TemplateApproval, template)
    if row is None:
        row = TemplateApproval(name=template, content_sid=approval.content_sid)
    row.content_sid = approval.content_sid
    row.status = approval.status
    row.category = approval.category
    row.rejection_reason = approval.rejection_reason[:300] or None
    row.checked_at = utcnow()
    session.add(row)


def _names(names: Iterable[str] | None) -> list[str]:
    chosen = list(names or WHATSAPP_TEMPLATES)
    unknown = [n for n in chosen if n not in WHATSAPP_TEMPLATES]
    if unknown:
        raise ValueError(f"unknown template(s): {', '.join(unknown)}; known: {', '.join(WHATSAPP_TEMPLATES)}")
    return chosen


def submit(session: Session, names: Iterable[str] | None = None) -> list[Submitted]:
    """Submit each template's configured Content SID for WhatsApp approval as UTILITY, unless it
    was already submitted (its status is read first: a second call submits nothing)."""
    out: list[tuple[Submitted, Approval | None]] = []
    for template in _names(names):  # network first: no database lock held meanwhile
        sid = content_sid(template)
        try:
            current = fetch_approval(sid)
            if current.status == "unsubmitted":
                after = submit_approval(sid, approval_name(template), CATEGORY)
                out.append((Submitted(template, sid, "submitted", after.status,
                                      f"as {approval_name(template)} ({CATEGORY})"), after))
                continue
        except ContentApiError as exc:
            out.append((Submitted(template, sid, "error", "", str(exc)), None))
            continue
        note = f"already {current.status}" + (f" as {current.name}" if current.name else "")
        if current.status == "rejected":
            note += (f" ({current.rejection_reason or 'no reason given'}): change the text, create a new "
                     "content with `spibot templates --create` and put its SID in .env")
        out.append((Submitted(template, sid, "skipped", current.status, note), current))
    for result, approval in out:
        if approval is not None:
            _store(session, result.template, approval)
    return [result for result, _ in out]


def fetch_approvals(names: Iterable[str] | None = None) -> dict[str, Approval | ContentApiError]:
    """Each template's approval as Twilio reports it now (a missing content: status not_found)."""
    out: dict[str, Approval | ContentApiError] = {}
    for template in _names(names):
        sid = content_sid(template)
        try:
            out[template] = fetch_approval(sid)
        except ContentApiError as exc:
            out[template] = (Approval(sid, "", NOT_FOUND, None, str(exc)) if exc.status == 404 else exc)
    return out


def _template_holds(session: Session) -> dict[str, Hold]:
    rows = session.execute(select(Hold).where(col(Hold.scope) == HoldScope.template)).scalars()
    return {h.target: h for h in rows}


def _alert(session: Session, template: str, approval: Approval, problem: str) -> None:
    category = approval.category or "-"
    text = (
        f"Pengiriman WhatsApp dengan template '{template}' ({approval.content_sid}) dihentikan "
        f"sementara: status {approval.status}, kategori {category}. Pesan yang menunggu tetap "
        "tersimpan (tidak ada yang gagal) dan dikirim, masing-masing sekali, setelah template "
        f"kembali disetujui sebagai {CATEGORY}. Periksa dengan `spibot templates --status`.\n\n"
        f"English: WhatsApp template '{template}' is held: {problem}. Waiting messages stay pending "
        f"and go once it is approved as {CATEGORY} again (checked every 15 minutes).\n"
    )
    alerts.send_alert(session, f"template:{template}:{utcnow():%Y%m%dT%H%M%S}",
                      f"[spibot] Template WhatsApp '{template}' ditahan ({approval.status}, {category})", text)


def sync_approvals(session: Session,
                   fetched: dict[str, Approval | ContentApiError] | None = None) -> list[TemplateState]:
    """Store each template's approval and hold or release it (see the module docstring).
    `fetched` (from `fetch_approvals`) lets the caller read Twilio before opening a write
    session; without it the approvals are read here."""
    fetched = fetch_approvals() if fetched is None else fetched
    existing = _template_holds(session)
    out = []
    for template, approval in fetched.items():
        if isinstance(approval, ContentApiError):
            log.warning("could not read the approval of template %s: %s", template, approval)
            out.append(TemplateState(template, content_sid(template), "", None, held=template in existing,
                                     error=str(approval)))
            continue
        _store(session, template, approval)
        problem = problem_of(approval)
        change = ""
        if problem is not None:
            reason = f"WhatsApp template {template} ({approval.content_sid}): {problem}"
            # looked up first: on PostgreSQL holds.hold() also answers True for a hold that exists
            if template not in existing and holds.hold(session, HoldScope.template, template, reason=reason,
                                                       code=HOLD_CODE, actor=ACTOR):
                change = "held"
                _alert(session, template, approval, problem)
        elif template in existing and existing[template].code == HOLD_CODE:
            if holds.resume(session, HoldScope.template, template, actor=ACTOR):
                change = "resumed"
        held = problem is not None or (template in existing and change != "resumed")
        out.append(TemplateState(template, approval.content_sid, approval.status, approval.category,
                                 approval.rejection_reason, held=held, change=change))
    return out


def scheduled_sync() -> dict[str, object]:
    """The scheduler's job: sync when WhatsApp goes through Twilio; otherwise nothing to do."""
    if get_settings().whatsapp_backend != "twilio":
        return {"skipped": "WHATSAPP_BACKEND is not twilio"}
    fetched = fetch_approvals()
    with session_scope(write=True) as session:
        states = sync_approvals(session, fetched)
    return {s.template: "error" if s.error else s.change or ("held" if s.held else s.status) for s in states}
