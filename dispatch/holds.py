"""Holds: bulk sending stopped for a WhatsApp sender, a campaign or one wave of it; and every
WhatsApp message of a template that is not approved (rejected, paused, re-categorised).

A sender is held by the worker when the provider says our configuration is wrong for everyone
(placeholder or unapproved ContentSid, paused template, account limit); a campaign or wave is
paused by a person. Held rows stay `pending`; nothing is failed. Replies (the respondent's own
"Isi Survei", Tanya SPI) keep flowing. Resuming deletes the hold: every row still goes once, as
the outbox key and the claim's lease guarantee.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import and_, delete, not_, or_, select, true, update
from sqlmodel import Session

from core.audit import record
from core.clock import utcnow
from core.db import insert_for
from core.masking import mask_text
from dispatch.content import TEMPLATE_OF_PURPOSE
from dispatch.models import Hold, HoldScope, Lane, Outbox, Status

log = logging.getLogger("spibot.dispatch")
H = Hold.__table__  # type: ignore[attr-defined]
T = Outbox.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Held:
    senders: frozenset[str] = frozenset()
    campaigns: frozenset[int] = frozenset()
    waves: frozenset[tuple[int, int]] = field(default_factory=frozenset)
    templates: frozenset[str] = frozenset()  # WhatsApp templates not approved (any lane)

    def __bool__(self) -> bool:
        return bool(self.senders or self.campaigns or self.waves or self.templates)

    def with_sender(self, sender: str) -> Held:
        return replace(self, senders=self.senders | {sender})

    def _purposes(self) -> list[str]:
        return sorted(p for p, t in TEMPLATE_OF_PURPOSE.items() if t in self.templates)

    def excludes(self) -> Any:
        """SQL condition: an outbox row that may be claimed despite these holds."""
        bulk = []
        if self.senders:
            bulk.append(T.c.sender.in_(sorted(self.senders)))
        if self.campaigns:
            bulk.append(T.c.campaign_id.in_(sorted(self.campaigns)))
        bulk.extend(and_(T.c.campaign_id == c, T.c.wave == w) for c, w in sorted(self.waves))
        held = [and_(T.c.lane == Lane.bulk, or_(*bulk))] if bulk else []
        if self.templates:
            held.append(and_(T.c.channel == "whatsapp", T.c.purpose.in_(self._purposes())))
        return not_(or_(*held)) if held else true()

    def holds(self, *, lane: int, sender: str, campaign_id: int | None, wave: int,
              channel: str = "", purpose: str = "") -> bool:
        if channel == "whatsapp" and purpose in self._purposes():
            return True
        return lane == Lane.bulk and (
            sender in self.senders or campaign_id in self.campaigns or (campaign_id or 0, wave) in self.waves)


def wave_target(campaign_id: int, wave: int) -> str:
    return f"{campaign_id}:{wave}"


def current(session: Session) -> Held:
    senders, campaigns, waves, templates = set(), set(), set(), set()
    for scope, target in session.execute(select(H.c.scope, H.c.target)).all():
        if scope == HoldScope.sender:
            senders.add(target)
        elif scope == HoldScope.template:
            templates.add(target)
        elif scope == HoldScope.campaign:
            campaigns.add(int(target))
        elif scope == HoldScope.wave:
            c, w = target.split(":")
            waves.add((int(c), int(w)))
    return Held(frozenset(senders), frozenset(campaigns), frozenset(waves), frozenset(templates))


def hold(session: Session, scope: HoldScope, target: str, *, reason: str, code: str | None = None,
         actor: str = "system", institution_id: int | None = None) -> bool:
    """Stop bulk sending for `target`; idempotent. Returns True if this call created the hold."""
    ins = insert_for(session, H)
    res = session.execute(ins.values(scope=scope, target=target, code=code, reason=mask_text(reason)[:300],
                                     actor=actor, since=utcnow()).on_conflict_do_nothing())
    created = bool(res.rowcount)  # type: ignore[attr-defined]
    if created:
        log.warning("bulk sending held: %s %s (%s)", scope, mask_text(target), mask_text(reason))
        record(session, actor, "dispatch.hold", institution_id=institution_id,
               target=f"{scope}:{target}", details={"code": code, "reason": mask_text(reason)[:300]})
    return created


def resume(session: Session, scope: HoldScope, target: str, *, actor: str,
           institution_id: int | None = None) -> bool:
    """Lift a hold; returns False if there was none."""
    res = session.execute(delete(H).where(H.c.scope == scope, H.c.target == target))
    lifted = bool(res.rowcount)  # type: ignore[attr-defined]
    if lifted:
        log.info("bulk sending resumed: %s %s by %s", scope, mask_text(target), actor)
        record(session, actor, "dispatch.resume", institution_id=institution_id, target=f"{scope}:{target}")
    return lifted


def listed(session: Session) -> list[Hold]:
    return list(session.execute(select(Hold).order_by(H.c.since)).scalars())


def cancel(session: Session, campaign_id: int, *, wave: int | None = None, actor: str,
           institution_id: int | None = None, assignment_id: int | None = None) -> int:
    """Cancel what a campaign (or one wave of it, or one respondent of it) still has waiting:
    its pending bulk rows fail as `cancelled` (never sent; messages already with the provider are
    not recalled). Returns the rows cancelled; a second call cancels nothing more."""
    cond = [T.c.campaign_id == campaign_id, T.c.lane == Lane.bulk, T.c.status == Status.pending]
    if wave is not None:
        cond.append(T.c.wave == wave)
    if assignment_id is not None:
        cond.append(T.c.assignment_id == assignment_id)
    res = session.execute(update(T).where(*cond).values(
        status=Status.failed, error_class="cancelled", error_code=None,
        error_message=f"cancelled by {actor}"[:300], updated_at=utcnow()))
    n = int(res.rowcount)  # type: ignore[attr-defined]
    record(session, actor, "dispatch.cancel", institution_id=institution_id,
           target=f"campaign:{campaign_id}" + (f"/wave:{wave}" if wave is not None else "")
           + (f"/assignment:{assignment_id}" if assignment_id is not None else ""),
           details={"cancelled": n})
    return n
