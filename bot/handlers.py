"""Handlers: given a number, its conversation state and a matched intent, decide the replies.

Handlers are plain (sync) functions rather than coroutines: every one of them reads the database
through a sync SQLModel session, and none runs in the event loop. A real webhook only stores the
message (bot.inbox); the bot's decider thread(s) decide its replies later (`service.wake` ->
`service.process_pending`), as does the scheduler's catch-up job (`service.kick`). The terminal
simulator and the sandbox page (a sync route) call them through `service.receive`.
Handlers return an `Outcome` (texts + events); the service stores, logs and sends them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from bot import callcentre, cases, intents, replies
from bot.lookup import CLOSED, NOT_OPEN, OPEN, SUBMITTED, Survey, open_registrations, surveys_of
from bot.models import ConversationState
from core.config import get_settings
from core.models import OptOut


@dataclass(frozen=True)
class Reply:
    text: str
    institution_id: int | None = None  # None: concerns every institution of the number
    campaign_id: int | None = None
    assignment_id: int | None = None


@dataclass(frozen=True)
class Event:
    intent: str
    outcome: str | None = None
    topic: str | None = None
    institution_id: int | None = None
    campaign_id: int | None = None
    assignment_id: int | None = None


@dataclass
class Outcome:
    intent: str
    replies: list[Reply] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass
class Context:
    session: Session
    phone: str
    text: str
    now: datetime
    state: ConversationState


def _survey_reply(survey: Survey, text: str) -> Reply:
    return Reply(text, survey.institution_id, survey.campaign_id, survey.assignment_id)


def _survey_event(survey: Survey, outcome: str) -> Event:
    return Event(intents.ISI_SURVEI, outcome, None, survey.institution_id, survey.campaign_id,
                 survey.assignment_id)


def isi_survei(ctx: Context) -> Outcome:
    """Re-send the personal link: one open survey -> its link; several -> a numbered list."""
    surveys = surveys_of(ctx.session, ctx.phone, ctx.now)
    out = Outcome(intents.ISI_SURVEI)
    open_ = [s for s in surveys if s.state == OPEN]
    ctx.state.mode, ctx.state.options = "", []
    if len(open_) == 1:
        out.replies.append(_survey_reply(open_[0], replies.link_one(open_[0])))
        out.events.append(_survey_event(open_[0], "link"))
        return out
    if open_:
        ctx.state.mode, ctx.state.options = "choose", [s.assignment_id for s in open_]
        out.replies.append(Reply(replies.link_list(open_)))
        out.events.extend(_survey_event(s, "list") for s in open_)
        return out
    for state, render in ((SUBMITTED, replies.submitted), (NOT_OPEN, replies.not_open),
                          (CLOSED, replies.closed)):
        matching = [s for s in surveys if s.state == state]
        if matching:
            out.replies.append(_survey_reply(matching[0], render(matching[0])))
            out.events.append(_survey_event(matching[0], state))
            return out
    base = get_settings().public_base_url.rstrip("/")
    registrations = [
        {"institution": inst.name, "url": f"{base}/daftar/{inst.code}"}
        for inst in open_registrations(ctx.session, ctx.now)
    ]
    out.replies.append(Reply(replies.unknown(registrations)))
    out.events.append(Event(intents.ISI_SURVEI, "unknown"))
    return out


def choose(ctx: Context, number: int) -> Outcome:
    """A number answered to the list of surveys."""
    out = Outcome(intents.ISI_SURVEI)
    options = list(ctx.state.options or [])
    if not 1 <= number <= len(options):
        out.replies.append(Reply(replies.simple("choice_invalid", count=len(options))))
        return out
    wanted = options[number - 1]
    survey = next((s for s in surveys_of(ctx.session, ctx.phone, ctx.now)
                   if s.assignment_id == wanted), None)
    if survey is None:  # no longer this number's (e.g. phone corrected): list again
        return isi_survei(ctx)
    render = {OPEN: replies.link_one, SUBMITTED: replies.submitted,
              CLOSED: replies.closed, NOT_OPEN: replies.not_open}[survey.state]
    out.replies.append(_survey_reply(survey, render(survey)))
    out.events.append(_survey_event(survey, "chosen" if survey.state == OPEN else survey.state))
    return out


def tanya_spi(ctx: Context) -> Outcome:
    ctx.state.mode, ctx.state.options = "faq", []
    return Outcome(intents.TANYA_SPI, [Reply(replies.faq_menu())],
                   [Event(intents.TANYA_SPI, "menu")])


def faq_answer(ctx: Context, number: int) -> Outcome:
    topics = replies.faq_topics()
    if not 1 <= number <= len(topics):
        return tanya_spi(ctx)
    topic = topics[number - 1]
    open_ = [s for s in surveys_of(ctx.session, ctx.phone, ctx.now) if s.state == OPEN]
    closes = replies.closes_text(open_[0]) if open_ else None
    return Outcome(intents.TANYA_SPI, [Reply(replies.faq_answer(topic, closes))],
                   [Event(intents.TANYA_SPI, "answer", topic.key)])


def stop(ctx: Context) -> Outcome:
    """Opt out of every invitation and reminder; the confirmation is sent once."""
    ctx.state.mode, ctx.state.options = "", []
    session = ctx.session
    if session.exec(select(OptOut.id).where(OptOut.address == ctx.phone)).first() is not None:
        return Outcome(intents.STOP, [], [Event(intents.STOP, "again")])
    try:
        with session.begin_nested():
            session.add(OptOut(address=ctx.phone, channel="whatsapp", opted_out_at=ctx.now))
    except IntegrityError:  # the same STOP arrived twice at once: the other one confirms
        return Outcome(intents.STOP, [], [Event(intents.STOP, "again")])
    return Outcome(intents.STOP, [Reply(replies.simple("stop"))], [Event(intents.STOP, "opted_out")])


def start(ctx: Context) -> Outcome:
    ctx.state.mode, ctx.state.options = "", []
    result = ctx.session.exec(delete(OptOut).where(col(OptOut.address) == ctx.phone))
    outcome = "opted_in" if result.rowcount else "already_in"
    return Outcome(intents.START, [Reply(replies.simple("start"))], [Event(intents.START, outcome)])


def help_(ctx: Context) -> Outcome:
    ctx.state.mode, ctx.state.options = "", []
    return Outcome(intents.HELP, [Reply(replies.simple("help"))], [Event(intents.HELP, "text")])


def media(ctx: Context) -> Outcome:
    return Outcome(intents.HELP, [Reply(replies.simple("media"))], [Event(intents.HELP, "media")])


def correction(ctx: Context) -> Outcome:
    """"Bukan saya", "salah unit", "nomor salah"...: asked once to confirm (bot.cases)."""
    kind = intents.correction_kind(ctx.text) or "not_me"
    case, text = cases.start(ctx.session, ctx.phone, kind, ctx.text, ctx.now)
    ctx.state.mode, ctx.state.options = (cases.STATE_PREFIX + kind, [case.id or 0]) if case else ("", [])
    return Outcome(intents.CORRECTION, [Reply(text)], [Event(intents.CORRECTION, "asked" if case else "none")])


def _confirming(ctx: Context) -> Outcome | None:
    """The answer to the case question: YA opens it, TIDAK drops it, anything else drops it too
    and is handled as a new message (None)."""
    case = cases.pending(ctx.session, (ctx.state.options or [0])[0])
    ctx.state.mode, ctx.state.options = "", []
    if case is None:
        return None
    answer = intents.confirmation(ctx.text)
    if answer is None:
        cases.cancel(ctx.session, case)
        return None
    ids = (case.institution_id, case.campaign_id, case.assignment_id)
    if answer:
        text = cases.confirm(ctx.session, case, ctx.now)
        return Outcome(intents.CORRECTION, [Reply(text, *ids)],
                       [Event(intents.CORRECTION, "confirmed", case.kind, *ids)])
    cases.cancel(ctx.session, case)
    return Outcome(intents.CORRECTION, [Reply(replies.simple("case_cancelled"), *ids)],
                   [Event(intents.CORRECTION, "cancelled", case.kind, *ids)])


def handover(ctx: Context) -> Outcome:
    """A message the bot cannot answer after the FAQ menu was offered: to the call centre."""
    first = not callcentre.has_open(ctx.session, ctx.phone)
    callcentre.note_inbound(ctx.session, ctx.phone, ctx.now)
    ctx.state.mode, ctx.state.options = "agent", []
    out = Outcome("agent", [], [Event("agent", "opened" if first else "joined")])
    if first:
        out.replies.append(Reply(callcentre.handover_text(ctx.now)))
    return out


def _unanswerable(ctx: Context) -> bool:
    """Neither a number, the menu, a greeting nor an intent the bot acts on."""
    if intents.parse_choice(ctx.text) is not None or intents.is_menu(ctx.text):
        return False
    found = intents.match(ctx.text)
    if found is not None and not (found.intent == intents.TANYA_SPI and found.rule == "question"):
        return False
    greetings = set(intents.keywords()["help"]["greetings"])
    return intents.normalise(ctx.text) not in greetings


HANDLERS: dict[str, Callable[[Context], Outcome]] = {
    intents.CORRECTION: correction,
    intents.ISI_SURVEI: isi_survei,
    intents.TANYA_SPI: tanya_spi,
    intents.STOP: stop,
    intents.START: start,
    intents.HELP: help_,
}


def decide(ctx: Context) -> Outcome:
    """The state (case question, numbered list, FAQ menu, call centre) first, then the intents."""
    if (ctx.state.mode or "").startswith(cases.STATE_PREFIX):
        answered = _confirming(ctx)
        if answered is not None:
            return answered
    if ctx.state.mode in ("faq", "agent") and _unanswerable(ctx):
        return handover(ctx)
    number = intents.parse_choice(ctx.text)
    if number is not None:
        if ctx.state.mode == "choose":
            return choose(ctx, number)
        if ctx.state.mode == "faq" or number == 0:
            return faq_answer(ctx, number) if number else tanya_spi(ctx)
    if intents.is_menu(ctx.text):
        return tanya_spi(ctx)
    return HANDLERS[intents.intent_of(ctx.text)](ctx)
