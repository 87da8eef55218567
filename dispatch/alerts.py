"""Emails to the admins (ALERT_EMAILS) when bulk sending stops by itself: a sender held for a
configuration problem, the quality guard tripped. Sent through the outbox on the priority lane,
once per event (the key), in Indonesian with the English reason for the technical team.

Operational alerts (`check_ops`, a scheduler job every minute; docs/observability.md): a lane
paused (any hold but a template's, which dispatch.templates alerts itself), no dispatch worker
alive for ALERT_WORKER_SILENT_MINUTES (workers `beat()` into dispatch_worker_heartbeat), WhatsApp
messages without any status callback for ALERT_CALLBACK_LAG_MINUTES, a disk nearly full. Each is
an incident (dispatch_ops_incident): emailed once when it opens, closed (re-armed) when its
condition clears. The silent-worker email cannot wait in the outbox for a worker: it is sent
directly through the email channel, and its incident opens only once it went out.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, exists, func, not_, select
from sqlmodel import Session, col

from core.aio import run_sync
from core.clock import utcnow
from core.config import get_settings
from core.datafiles import read_yaml
from core.db import insert_for
from core.masking import mask_text
from core.templating import get_env, render
from dispatch.models import (
    DeliveryEvent,
    Hold,
    HoldScope,
    Lane,
    OpsIncident,
    Outbox,
    Purpose,
    Status,
    WorkerHeartbeat,
)
from dispatch.service import insert_rows, new_row

log = logging.getLogger("spibot.alerts")
TEXTS = Path(__file__).parent / "data" / "ops_alerts.yaml"
HEARTBEAT_SECONDS = 15.0  # how often a worker writes its heartbeat
HEARTBEAT_KEEP_DAYS = 7  # heartbeats of workers gone longer than this are deleted
CALLBACK_LOOKBACK_HOURS = 6  # messages sent longer ago are no longer looked at for callbacks
I = OpsIncident.__table__  # type: ignore[attr-defined]  # noqa: E741
W = WorkerHeartbeat.__table__  # type: ignore[attr-defined]


def _recipients() -> list[str]:
    return [a.strip().lower() for a in get_settings().alert_emails.split(",") if a.strip()]


def send_alert(session: Session, key: str, subject: str, text: str) -> int:
    """One email per admin; returns rows enqueued (0 when no ALERT_EMAILS or already sent)."""
    now = utcnow()
    settings = get_settings()
    rows = [new_row(key=f"alert:{key}:{to}", channel="email", purpose=Purpose.alert, wave=1, to=to,
                    sender=settings.email_from, tz="UTC", lane=Lane.reply,
                    payload={"subject": subject, "text": text}, campaign_id=None,
                    assignment_id=None, unit_id=None, institution_id=None, now=now)
            for to in _recipients()]
    return insert_rows(session, rows)


def sender_held(session: Session, sender: str, code: str | None, reason: str) -> int:
    at = utcnow()
    text = render("email/alert_sender_held.txt", sender=sender, code=code or "-",
                  reason=mask_text(reason), base_url=get_settings().public_base_url.rstrip("/"))
    open_incident(session, f"hold:{HoldScope.sender}:{sender}", mask_text(reason))  # check_ops: said
    return send_alert(session, f"hold:{sender}:{at:%Y%m%dT%H%M}",
                      f"[spibot] Pengiriman massal WhatsApp dihentikan ({sender})", text)


# --- worker heartbeat ----------------------------------------------------------------------------

def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def beat(worker: str, started_at: datetime, sent: int, now: datetime | None = None) -> None:
    """A worker's sign of life (one upsert); called from its loop every HEARTBEAT_SECONDS."""
    now = now or utcnow()
    from core.db import session_scope  # the worker's own short transaction

    with session_scope(write=True) as session:
        ins = insert_for(session, W).values(worker=worker, started_at=started_at, seen_at=now, sent=sent)
        session.execute(ins.on_conflict_do_update(index_elements=["worker"],
                                                  set_={"seen_at": now, "sent": sent}))


# --- operational incidents -------------------------------------------------------------------------

class Incident(NamedTuple):
    key: str
    kind: str  # a section of ops_alerts.yaml
    detail: str  # English
    values: dict[str, Any]


@lru_cache(maxsize=1)
def _texts() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = read_yaml(TEXTS)
    return data


def _render(kind: str, incident: Incident) -> tuple[str, str]:
    text = _texts()[kind]
    context = {"detail": incident.detail, "base_url": get_settings().public_base_url.rstrip("/"),
               **incident.values}
    env = get_env()
    return env.from_string(text["subject"]).render(**context), env.from_string(text["text"]).render(**context)


def open_incident(session: Session, key: str, detail: str, now: datetime | None = None) -> bool:
    """Mark an incident open; True if it was not open yet (then it is to be alerted)."""
    ins = insert_for(session, I).values(key=key[:200], detail=detail[:300], opened_at=now or utcnow())
    stmt = ins.on_conflict_do_nothing(index_elements=["key"]).execution_options(preserve_rowcount=True)
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def _lanes_paused(session: Session) -> list[Incident]:
    out = []
    for hold in session.execute(select(Hold).where(col(Hold.scope) != HoldScope.template)).scalars():
        since = f"{hold.since:%Y-%m-%d %H:%M}" if hold.since else "-"
        out.append(Incident(f"hold:{hold.scope}:{hold.target}", "lane_paused", mask_text(hold.reason or "-"),
                            {"scope": hold.scope, "target": hold.target, "since": since, "actor": hold.actor}))
    return out


def _worker_silent(session: Session, now: datetime, minutes: float) -> list[Incident]:
    """No heartbeat within `minutes` (or none ever, while rows are overdue by that long)."""
    cutoff = now - timedelta(minutes=minutes)
    newest = session.execute(select(func.max(W.c.seen_at))).scalar()
    if newest is None:
        t = Outbox.__table__  # type: ignore[attr-defined]
        overdue = session.execute(select(t.c.id).where(t.c.status == Status.pending,
                                                       t.c.next_attempt_at < cutoff).limit(1)).first()
        if overdue is None:
            return []
        detail = f"no worker has ever sent a heartbeat and messages are overdue by over {minutes:g} min"
    else:
        newest = newest if newest.tzinfo else newest.replace(tzinfo=now.tzinfo)
        if newest >= cutoff:
            return []
        detail = f"last worker heartbeat at {newest:%Y-%m-%d %H:%M:%S} UTC"
    return [Incident("worker_silent", "worker_silent", detail, {"minutes": f"{minutes:g}"})]


def _callback_lag(session: Session, now: datetime, minutes: float, least: int) -> list[Incident]:
    """WhatsApp messages accepted by Twilio `minutes` ago or more (within the look-back) that
    have not had a single status callback."""
    t = Outbox.__table__  # type: ignore[attr-defined]
    e = DeliveryEvent.__table__  # type: ignore[attr-defined]
    cond = and_(t.c.status == Status.sent, t.c.channel == "whatsapp", t.c.backend == "twilio",
                t.c.sent_at < now - timedelta(minutes=minutes),
                t.c.sent_at > now - timedelta(hours=CALLBACK_LOOKBACK_HOURS),
                not_(exists().where(e.c.provider_id == t.c.provider_id)))
    count, oldest = session.execute(select(func.count(), func.min(t.c.sent_at)).where(cond)).one()
    if count < max(least, 1):
        return []
    detail = f"{count} messages without a status callback, the oldest sent at {oldest:%Y-%m-%d %H:%M:%S} UTC"
    return [Incident("callback_lag", "callback_lag", detail, {"count": count, "minutes": f"{minutes:g}"})]


DiskUsage = Callable[[str], Any]  # shutil.disk_usage's shape: .total, .free


def watched_paths() -> list[Path]:
    settings = get_settings()
    paths = [Path(settings.data_dir)]
    paths += [Path(p.strip()) for p in settings.alert_disk_paths.split(",") if p.strip()]
    return paths


def _disks_low(disk_usage: DiskUsage) -> list[Incident]:
    settings = get_settings()
    out, seen = [], set()
    for path in watched_paths():
        probe = path
        while not probe.exists() and probe != probe.parent:  # a directory not made yet: its disk
            probe = probe.parent
        try:
            usage = disk_usage(str(probe))
        except OSError:
            continue
        if (usage.total, usage.free) in seen:
            continue
        seen.add((usage.total, usage.free))
        free_mb = usage.free / 2**20
        percent = 100.0 * usage.free / usage.total if usage.total else 0.0
        if free_mb < settings.alert_disk_min_free_mb or percent < settings.alert_disk_min_free_percent:
            detail = (f"{path}: {free_mb:.0f} MB free of {usage.total / 2**20:.0f} MB ({percent:.1f}%), "
                      f"thresholds {settings.alert_disk_min_free_mb} MB / {settings.alert_disk_min_free_percent:g}%")
            out.append(Incident(f"disk:{path}", "disk_low", detail,
                                {"path": str(path), "free_mb": f"{free_mb:.0f}", "free_percent": f"{percent:.1f}"}))
    return out


def _send_direct(subject: str, text: str) -> bool:
    """An alert sent at once through the email channel (not the outbox); False if it failed."""
    from dispatch.channels import make_channel
    from dispatch.channels.base import OutMessage

    settings = get_settings()
    recipients = _recipients()

    async def go() -> None:
        channel = make_channel("email", settings)
        try:
            for to in recipients:
                await channel.send(OutMessage(outbox_id=0, channel="email", to=to, sender=settings.email_from,
                                              subject=subject, text=text))
        finally:
            await channel.close()

    try:
        run_sync(go)
    except Exception:  # noqa: BLE001 - tried again at the next run
        log.exception("could not send the alert %r directly", subject)
        return False
    return True


def check_ops(session: Session, *, now: datetime | None = None,
              disk_usage: DiskUsage = shutil.disk_usage) -> dict[str, Any]:
    """Open (and alert) the incidents whose condition holds, close those whose condition has
    cleared; returns {"open": [...], "alerted": [...], "closed": [...]}. Idempotent: run every minute."""
    now = now or utcnow()
    settings = get_settings()
    found = [*_lanes_paused(session),
             *_worker_silent(session, now, settings.alert_worker_silent_minutes),
             *_callback_lag(session, now, settings.alert_callback_lag_minutes,
                            settings.alert_callback_lag_min_messages),
             *_disks_low(disk_usage)]
    current = {i.key for i in found}
    alerted: list[str] = []
    for incident in found:
        subject, text = _render(incident.kind, incident)
        if incident.kind == "worker_silent":
            if session.get(OpsIncident, incident.key) is None and _send_direct(subject, text):
                open_incident(session, incident.key, incident.detail, now)
                alerted.append(incident.key)
            continue
        if open_incident(session, incident.key, incident.detail, now):
            send_alert(session, f"ops:{incident.key[:120]}:{now:%Y%m%dT%H%M%S%f}", subject, text)
            log.warning("alert: %s", mask_text(incident.detail))
            alerted.append(incident.key)
    closed = [k for k in session.execute(select(I.c.key)).scalars() if k not in current]
    if closed:
        session.execute(delete(I).where(I.c.key.in_(closed)))
    session.execute(delete(W).where(W.c.seen_at < now - timedelta(days=HEARTBEAT_KEEP_DAYS)))
    return {"open": sorted(current), "alerted": alerted, "closed": closed}

