"""Receiving inbound WhatsApp messages: store each once, then rate-limit, decide, log, reply.

Two steps, each in its own write transaction. The webhook stores the message (`accept_many`, by
bot.inbox's group commit: INSERT ... ON CONFLICT (message_sid) DO NOTHING): a retried webhook
stores nothing twice, and one whose store failed left nothing behind (it answers 500 and Twilio
retries it). Then the bot's decider thread(s) (`wake` -> `kick` -> `process_pending`) handle the
stored messages still "received": a message's state change, log, outbox replies (keys derived from
the MessageSid) and new status commit together or not at all. `receive()` does both steps in ONE
transaction (the terminal and sandbox simulators, tests).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot import handlers, intents, replies
from bot.lookup import phone_of, surveys_of
from bot.models import ConversationEntry, ConversationState, InboundMessage, IntentEvent
from bot.outbound import send_reply
from bot.prefetch import BatchContext
from core.clock import as_utc, utcnow
from core.config import get_settings
from core.db import insert_for, is_sqlite, session_scope, write_lock
from core.masking import mask_phone
from core.metrics import BOT_REPLIES
from dispatch import Incoming

log = logging.getLogger("spibot.bot")

MAX_BODY_CHARS = 4000  # stored; WhatsApp allows 4096
_LINK_TOKEN = re.compile(r"(/s/)[A-Za-z0-9_\-]{8,}")


@dataclass
class Received:
    """What happened to one inbound message (the terminal simulator and tests read it)."""

    status: str  # duplicate, replied, ignored, rate_limited, no_reply, invalid
    intent: str | None = None
    replies: list[str] = field(default_factory=list)


def clean_text(value: Any, limit: int = MAX_BODY_CHARS) -> str:
    """Any value -> text safe for every database: no NUL/control characters, no lone surrogates."""
    text = str(value if value is not None else "")[: limit * 2]
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return text[:limit]


def redact_links(text: str) -> str:
    """Personal link tokens never reach the conversation log the PIC reads."""
    return _LINK_TOKEN.sub(r"\1…", text)


def _kind(message: Incoming, body: str) -> str:
    if body.strip():
        return "long" if len(body) > intents.MAX_MATCH_CHARS else "text"
    return "media" if message.media else "empty"


def _state_of(session: Session, phone: str, now: datetime) -> ConversationState:
    """Get or create the number's state row (INSERT ... ON CONFLICT DO NOTHING: race-free)."""
    stmt = insert_for(session, ConversationState).values(phone=phone, mode="", options=[],
                                                         updated_at=now)
    session.exec(stmt.on_conflict_do_nothing(index_elements=["phone"]))
    state = session.exec(select(ConversationState).where(ConversationState.phone == phone)).one()
    return state


def _over_limit(session: Session, phone: str, now: datetime, known: BatchContext | None = None) -> bool:
    if known is not None:
        return known.recent(phone, now) >= get_settings().bot_rate_limit_per_minute
    count = session.exec(
        select(func.count()).select_from(InboundMessage).where(
            InboundMessage.from_number == phone,
            InboundMessage.received_at > now - timedelta(minutes=1),  # type: ignore[operator]
        )
    ).one()
    return int(count) >= get_settings().bot_rate_limit_per_minute


def _attribute(session: Session, phone: str, event: handlers.Event, now: datetime) -> list[IntentEvent]:
    """An event about the number in general counts once for each institution it belongs to."""
    base: dict[str, Any] = dict(at=now, intent=event.intent, outcome=event.outcome, topic=event.topic, phone=phone)
    if event.institution_id is not None:
        return [IntentEvent(**base, institution_id=event.institution_id,
                            campaign_id=event.campaign_id, assignment_id=event.assignment_id)]
    latest: dict[int, int] = {}
    for survey in surveys_of(session, phone, now):  # newest campaign first
        latest.setdefault(survey.institution_id, survey.campaign_id)
    if not latest:
        return [IntentEvent(**base)]
    return [IntentEvent(**base, institution_id=i, campaign_id=c) for i, c in latest.items()]


def _outcome(ctx: handlers.Context, kind: str) -> handlers.Outcome:
    if kind == "media":
        return handlers.media(ctx)
    if kind in ("empty", "long"):
        return handlers.help_(ctx)
    return handlers.decide(ctx)


def _inbound_values(message: Incoming, now: datetime) -> dict[str, Any] | None:
    """The row for one inbound message; None (and a warning) when it has no message id."""
    sid = clean_text(message.sid, 64).strip()
    if not sid:
        log.warning("inbound message without a message id ignored")
        return None
    body = clean_text(message.body)
    return {"message_sid": sid, "from_number": phone_of(message.sender) or clean_text(message.sender, 40),
            "to_number": clean_text(message.to, 60), "body": body, "kind": _kind(message, body),
            "num_media": message.num_media, "intent": None, "status": "received", "received_at": now}


def accept_many(session: Session, messages: list[Incoming], *,
                now: datetime | None = None) -> list[bool]:
    """Store a burst of inbound messages with ONE `INSERT ... ON CONFLICT (message_sid) DO
    NOTHING`: True for each stored now; False for a retry (also one inside the burst) or no id."""
    now = now or utcnow()
    first: dict[str, int] = {}
    rows = []
    for n, message in enumerate(messages):
        values = _inbound_values(message, now)
        if values is not None and values["message_sid"] not in first:
            first[values["message_sid"]] = n
            rows.append(values)
    if not rows:
        return [False] * len(messages)
    stmt = (insert_for(session, InboundMessage.__table__).values(rows)  # type: ignore[attr-defined]
            .on_conflict_do_nothing(index_elements=["message_sid"])
            .returning(InboundMessage.__table__.c.message_sid))  # type: ignore[attr-defined]
    stored = {first[sid] for sid in session.execute(stmt).scalars()}
    return [n in stored for n in range(len(messages))]


def accept(session: Session, message: Incoming, *, now: datetime | None = None) -> InboundMessage | None:
    """Store an inbound message once (status "received"); None for a retry or one without an id."""
    values = _inbound_values(message, now or utcnow())
    if values is None:
        return None
    sid = values["message_sid"]
    if session.exec(select(InboundMessage.id).where(InboundMessage.message_sid == sid)).first():
        return None
    inbound = InboundMessage(**values)
    try:
        with session.begin_nested():
            session.add(inbound)
    except IntegrityError:  # the same webhook is being handled concurrently
        return None
    return inbound


def process(session: Session, inbound: InboundMessage, *, now: datetime | None = None,
            known: BatchContext | None = None) -> Received:
    """Decide and enqueue the replies to a stored inbound message (in the caller's transaction).
    `known`: the number's state and recent arrivals, read for the whole batch (bot.prefetch)."""
    if now is None:
        now = as_utc(inbound.received_at) if inbound.received_at else utcnow()
    sid, body = inbound.message_sid, inbound.body
    phone = phone_of(inbound.from_number)
    if phone is None:
        inbound.status = "no_reply"
        log.warning("inbound %s from an address that is not a WhatsApp number: no reply", sid)
        return Received("no_reply")

    state = known.states.get(phone) if known is not None else None
    if state is None:
        state = _state_of(session, phone, now)
    entry = ConversationEntry(at=now, phone=phone, direction="in", body=body, message_sid=sid)
    if state.muted_until is not None and now < as_utc(state.muted_until):
        session.add(entry)
        inbound.status = "ignored"
        return Received("ignored")
    if _over_limit(session, phone, now, known):
        state.muted_until = now + timedelta(minutes=get_settings().bot_rate_limit_mute_minutes)
        outcome = handlers.Outcome("rate_limited", [handlers.Reply(replies.simple("rate_limited"))])
        status = "rate_limited"
    else:
        ctx = handlers.Context(session=session, phone=phone, text=body, now=now, state=state)
        outcome = _outcome(ctx, inbound.kind)
        status = "replied" if outcome.replies else "no_reply"
    state.updated_at = now
    inbound.intent = entry.intent = outcome.intent
    inbound.status = status
    session.add(entry)  # added once decided (its intent known): one INSERT, no UPDATE
    _deliver(session, inbound, phone, outcome, now)
    log.info("inbound %s from %s: %s (%d replies)", sid, mask_phone(phone), outcome.intent,
             len(outcome.replies))
    BOT_REPLIES.labels(outcome.intent or "none").inc()  # /metrics: bot replies by intent
    return Received(status, outcome.intent, [r.text for r in outcome.replies])


def receive(session: Session, message: Incoming, *, now: datetime | None = None) -> Received:
    """Store and handle one inbound message in one transaction (simulator, CLI, tests)."""
    inbound = accept(session, message, now=now)
    if inbound is None:
        return Received("duplicate" if message.sid.strip() else "invalid")
    return process(session, inbound, now=now)


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self.last = 0.0  # time.monotonic() of the last increment
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n
            if n > 0:
                self.last = time.monotonic()


accepting = _Counter()  # webhooks waiting for their message to be stored (bot.inbox)
answering = _Counter()  # webhooks inside the endpoint, from the request to the response sent
BATCH = 25  # messages decided per transaction
BATCH_SECONDS = 0.05  # ... and at most this long holding SQLite's one write lock
BATCH_SECONDS_PG = 0.25  # PostgreSQL locks rows, not the database: longer batches, fewer commits
SQLITE_PAUSE = 0.02  # between batches on SQLite, see process_pending
RUNNERS_PG = 2  # concurrent runs per process on PostgreSQL (their round trips overlap)
BURST_GAP = 0.02  # webhooks arriving closer than this are one burst ...
MAX_YIELD = 0.25  # ... which deciding waits for, at most this long per batch


def _yield_to_webhooks() -> None:
    """Acknowledging a burst of webhooks (due in 100 ms) goes before deciding their replies (due
    in 2 s): with one GIL per process, deciding alongside would slow every acknowledgement."""
    started = time.monotonic()
    while (_webhooks_busy() or time.monotonic() - max(accepting.last, answering.last) < BURST_GAP) \
            and time.monotonic() - started < MAX_YIELD:
        time.sleep(0.002)


def _webhooks_busy() -> bool:
    return accepting.value > 0 or answering.value > 0


def _pending_query(session: Session) -> Any:
    older = aliased(InboundMessage)
    query = (
        select(InboundMessage)
        .where(InboundMessage.status == "received", ~exists().where(
            # one number's messages in order: never overtake an older one that another run is
            # still handling (so a batch holds at most one message per number)
            col(older.from_number) == col(InboundMessage.from_number),
            col(older.status) == "received", col(older.id) < col(InboundMessage.id)))
        .order_by(col(InboundMessage.id)).limit(BATCH)
    )
    if not is_sqlite(session):
        query = query.with_for_update(skip_locked=True, of=InboundMessage)
    return query


def process_pending(limit: int = 500) -> int:
    """Handle stored messages still "received", oldest first, a short batch per transaction.

    A batch holds the write lock at most BATCH_SECONDS and gives way as soon as webhooks wait to
    be stored (their 200 is due first). If handling any message of a batch raises, the batch is
    rolled back and handled again one message per transaction, the failing one parked as "error":
    a bug never blocks the queue. SQLite has no fair queue for its write lock: a process that
    commits and at once begins again starves the writers of other processes (the dispatch
    worker's claims) sleeping in SQLite's busy handler, hence a short pause between batches.
    Runs on this process's decider thread(s), woken by bot.inbox after each stored batch, and from
    the scheduler's job (both through `kick`); any run also picks up messages a crashed process
    left behind. PostgreSQL: FOR UPDATE SKIP LOCKED lets runs share the work.
    """
    done, isolate = 0, 0
    while done < limit:
        _yield_to_webhooks()
        if isolate:
            handled, more = _one_isolated(), True
            isolate -= 1
        else:
            try:
                handled, more = _batch(limit - done)
            except Exception:  # noqa: BLE001 - rolled back; found and logged one at a time
                isolate = BATCH
                continue
        if not handled:
            return done
        done += handled
        if more and get_settings().is_sqlite:
            time.sleep(SQLITE_PAUSE)
    return done


def _batch(limit: int) -> tuple[int, bool]:
    """One transaction, up to `limit` messages: (handled, cut short with more to do)."""
    handled = 0
    # no autoflush: the log entries, events and status updates of the whole batch are written
    # together at commit (executemany), not a round trip each (one message per number per batch,
    # so no decision reads what another message of the batch wrote)
    with write_lock(), session_scope(write=True) as session, session.no_autoflush:
        started = time.perf_counter()
        budget = BATCH_SECONDS if is_sqlite(session) else BATCH_SECONDS_PG
        inbounds = session.exec(_pending_query(session)).all()
        known = BatchContext.load(session, inbounds)
        for inbound in inbounds:
            if handled >= limit or (handled and (time.perf_counter() - started > budget
                                                 or _webhooks_busy())):
                return handled, True  # the rest stay "received" for the next batch
            process(session, inbound, known=known)
            handled += 1
    return handled, False


def _one_isolated() -> int:
    """The oldest pending message alone; if handling it raises, it is parked as "error"."""
    with write_lock(), session_scope(write=True) as session:
        inbound = session.exec(_pending_query(session)).first()
        if inbound is None:
            return 0
        try:
            with session.begin_nested():
                process(session, inbound)
        except Exception:
            log.exception("inbound message %s could not be handled", inbound.id)
            inbound.status = "error"
            session.add(inbound)
        return 1


def _deliver(session: Session, inbound: InboundMessage, phone: str,
             outcome: handlers.Outcome, now: datetime) -> None:
    sender = inbound.to_number if phone_of(inbound.to_number) else None
    for n, reply in enumerate(outcome.replies):
        send_reply(session, to=phone, body=reply.text, key=f"reply:{inbound.message_sid}:{n}",
                   sender=sender, campaign_id=reply.campaign_id, assignment_id=reply.assignment_id)
        session.add(ConversationEntry(
            at=now, phone=phone, direction="out", body=redact_links(reply.text),
            intent=outcome.intent, institution_id=reply.institution_id,
            message_sid=inbound.message_sid,
        ))
    for event in outcome.events:
        for row in _attribute(session, phone, event, now):
            session.add(row)


_runners = threading.BoundedSemaphore(RUNNERS_PG)
_sqlite_runner = threading.Lock()
_wanted = threading.Event()
_wake = threading.Event()
_deciders: list[threading.Thread] = []
_deciders_lock = threading.Lock()


def wake() -> None:
    """Have this process's decider thread(s) run `kick` soon. Cheap and non-blocking: the inbox
    calls it once per stored batch, instead of a thread-pool task per webhook."""
    if len(_deciders) < _decider_count() or not all(t.is_alive() for t in _deciders):
        with _deciders_lock:
            _deciders[:] = [t for t in _deciders if t.is_alive()]
            while len(_deciders) < _decider_count():
                thread = threading.Thread(target=_decide_forever, daemon=True,
                                          name=f"bot-decider-{len(_deciders)}")
                thread.start()
                _deciders.append(thread)
    _wake.set()


def _decider_count() -> int:
    return 1 if get_settings().is_sqlite else RUNNERS_PG


def _decide_forever() -> None:
    while True:
        _wake.wait()
        _wake.clear()
        try:
            kick()
        except Exception:  # noqa: BLE001 - the next wake (or the scheduler's job) tries again
            log.exception("deciding inbound messages failed")


def kick() -> None:
    """Run `process_pending` in this process unless enough runs are already going (one of which
    then loops once more): one on SQLite (one writer anyway), RUNNERS_PG on PostgreSQL. Called by
    the decider thread(s) (`wake`) and by the scheduler's job for messages a crashed process left
    behind: a wake during a run costs no second run, only one more loop of the running one."""
    runner = _sqlite_runner if get_settings().is_sqlite else _runners
    _wanted.set()
    while _wanted.is_set():
        if not runner.acquire(blocking=False):
            return  # an active run sees `_wanted` and goes round again
        try:
            _wanted.clear()
            process_pending()
        finally:
            runner.release()
