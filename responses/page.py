"""The respondent's questionnaire page (GET /s/{token}) at low cost: one read, no ORM objects, and
a per-process pre-rendered page skeleton.

Why: every invitation blast and every walk-in registration ends on this page, on cheap phones.
Served through the ORM (five queries, a session, a sync route's thread hops) and a full Jinja
render it cost ~5 ms of web-process CPU; see docs/benchmarks.md (issue 6, "Walk-in flow: the
questionnaire page").

- `reader.read(token)`: the link behind the token (`responses.service.read_links`: assignment by
  token hash, its campaign, institution and unit names, and the response through the link
  table, one SELECT, plain values), read by one thread with a connection of its own, several
  waiting requests per statement. Nothing about a respondent is cached: every request's link is
  read after the request arrived, so a campaign closed, an answer saved or a response submitted
  anywhere is seen at once.
- `render_page(...)`: responses/form.html rendered once per (questionnaire, page, survey year,
  pages counted in its progress line: a skipped follow-up part is not counted) with
  placeholders, split into static text and slots (the institution/unit line, the form
  action with the respondent's token, the signed `shown` field, and one slot per radio button
  for `checked`). A request fills the slots: it is byte-for-byte what the template renders
  (tests/responses/test_page.py). Only the questionnaire text is cached; a respondent's token and
  answers exist only in the request that fills them, and answers only decide which fixed
  " checked" flags are set (answer text is never written into the page).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy.engine import Connection, Engine

from core.db import get_engine
from core.templating import get_env
from core.tokens import hash_token
from responses import service
from responses.questionnaire import CONFIRM_PAGE, Questionnaire, first_incomplete_page
from responses.service import MAX_TOKEN_LENGTH, LinkView

Waiter = tuple[bytes, "asyncio.Future[LinkView | None]", asyncio.AbstractEventLoop]


class LinkReader:
    """One thread with one connection of its own that reads links for the event loop.

    Why not the threadpool and the pool: a pooled read on PostgreSQL pays a pre-ping round trip,
    a BEGIN and a ROLLBACK, and the threadpool hop its own bookkeeping; this thread keeps its
    connection (PostgreSQL: autocommit; SQLite: each batch is one read transaction, ended at
    once) and reads every link waiting at that moment with one statement. Nothing is cached:
    each request's link is read after the request arrived.
    """

    MAX_BATCH = 64

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Waiter] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    async def read(self, token: str) -> LinkView | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[LinkView | None] = loop.create_future()
        self._ensure_started()
        self._queue.put((hash_token(token), future, loop))
        return await future

    def _ensure_started(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="link-reader", daemon=True)
                    self._thread.start()

    def _connection(self) -> Connection:
        engine = get_engine()
        if self._conn is not None and (self._engine is not engine or self._conn.invalidated):
            self._close()
        if self._conn is None:
            conn = engine.connect()
            if engine.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT")
            self._engine, self._conn = engine, conn
        return self._conn

    def _close(self) -> None:
        conn, self._conn, self._engine = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing more to do with it
                conn.close()

    def _read(self, hashes: list[bytes]) -> dict[bytes, LinkView | None]:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                found = service.read_links(conn, hashes)
                if conn.in_transaction():
                    conn.rollback()  # SQLite: end the read transaction (no snapshot held)
                return found
            except Exception:
                self._close()  # a connection that failed is not used again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            outcome: dict[bytes, LinkView | None] | BaseException
            try:
                outcome = self._read(list({digest for digest, _, _ in batch}))
            except Exception as exc:  # noqa: BLE001 - handed to each waiting request
                outcome = exc
            by_loop: dict[asyncio.AbstractEventLoop, list[Waiter]] = {}
            for waiter in batch:
                by_loop.setdefault(waiter[2], []).append(waiter)
            for loop, waiters in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_deliver, waiters, outcome)
                except RuntimeError:  # that loop is closed (a finished test's client)
                    pass


def _deliver(waiters: list[Waiter], outcome: dict[bytes, LinkView | None] | BaseException) -> None:
    for digest, future, _ in waiters:
        if future.done():  # the request was cancelled (the phone went away)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome.get(digest))


reader = LinkReader()


# --- the page --------------------------------------------------------------------------------------

TEMPLATE = "responses/form.html"


def shown_pages(q: Questionnaire, page_id: str, answers: Mapping[str, Any]) -> tuple[str, ...]:
    """The pages counted in "Bagian X dari Y" on `page_id`: those shown to a respondent with
    `answers` (a skipped follow-up part is not counted), or every page if `page_id` is not one of
    them (a page asked for by its address)."""
    ids = q.page_ids(answers)
    return tuple(ids if page_id in ids else q.page_ids())


def form_context(
    q: Questionnaire, page_id: str, year: int | str, institution: Any, unit: Any,
    answers: Mapping[str, Any], errors: Mapping[str, str], notice: str | None, shown: Any, action: Any,
    pages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The context of responses/form.html (the one place it is built). `pages`: the pages
    counted in the progress line (default: `shown_pages` of `answers`)."""
    ids = list(pages) if pages is not None else list(shown_pages(q, page_id, answers))
    step = ids.index(page_id) + 1
    page = q.page(page_id)
    return {
        "year": year, "institution": institution, "unit": unit, "page": page, "page_id": page_id,
        "page_title": page.title if page else "Kirim jawaban",
        "step": step, "steps": len(ids), "percent": round(100 * (step - 1) / len(ids)),
        "answers": answers, "errors": errors, "notice": notice, "shown": shown, "action": action,
    }


# Placeholders rendered into the skeleton (NUL never occurs in questionnaire text: checked).
_WHERE, _ACTION, _SHOWN = "\x00where\x00", "\x00action\x00", "\x00shown\x00"
_MARKERS = (_WHERE, _ACTION, _SHOWN)
Slot = str | tuple[str, str]  # a marker, or (question id, option value) for " checked"


@dataclass(frozen=True)
class Skeleton:
    """A page as static texts around slots: texts[0] slot[0] texts[1] ... slot[n-1] texts[n]."""

    texts: tuple[str, ...]
    slots: tuple[Slot, ...]

    def fill(self, where: str, action: str, shown: str, answers: Mapping[str, Any]) -> str:
        fixed = {_WHERE: where, _ACTION: action, _SHOWN: shown}
        out = [self.texts[0]]
        for slot, text in zip(self.slots, self.texts[1:], strict=True):
            if isinstance(slot, str):
                out.append(fixed[slot])
            else:
                qid, value = slot
                # The template's test: answers.get(q.id)|string == value (Jinja's `string` is str()).
                if qid in answers and str(answers[qid]) == value:
                    out.append(" checked")
            out.append(text)
        return "".join(out)


def _build_skeleton(q: Questionnaire, page_id: str, year: int, pages: Sequence[str]) -> Skeleton | None:
    """The page rendered with placeholders and cut at its slots; None if the markup is not as
    expected (then the caller renders the template in full)."""
    where, action, shown = (Markup(m) for m in (_WHERE, _ACTION, _SHOWN))  # noqa: S704 - constants
    context = form_context(q, page_id, year, where, None, {}, {}, None, shown, action, pages)
    html = get_env().get_template(TEMPLATE).render(context)
    cuts: list[tuple[int, int, Slot]] = []  # (start, end) of the text a slot replaces
    for marker in _MARKERS:
        if html.count(marker) != 1:
            return None
        at = html.index(marker)
        cuts.append((at, at + len(marker), marker))
    if html.count("\x00") != sum(m.count("\x00") for m in _MARKERS):
        return None
    page = q.page(page_id)
    for question in page.questions if page else ():
        for value, _label in question.options:
            needle = f'<input type="radio" name="{escape(question.id)}" value="{escape(value)}"'
            if html.count(needle) != 1:
                return None
            at = html.index(needle) + len(needle)
            cuts.append((at, at, (question.id, value)))
    cuts.sort(key=lambda c: c[0])
    texts, slots, pos = [], [], 0
    for start, end, slot in cuts:
        texts.append(html[pos:start])
        slots.append(slot)
        pos = end
    texts.append(html[pos:])
    return Skeleton(tuple(texts), tuple(slots))


MAX_SKELETONS = 1024
_skeletons: dict[tuple[int, str, int, tuple[str, ...]], tuple[Questionnaire, Skeleton | None]] = {}
_lock = threading.Lock()


def skeleton(q: Questionnaire, page_id: str, year: int, pages: Sequence[str] | None = None) -> Skeleton | None:
    """The cached skeleton of one page (questionnaire text only: nothing about a respondent).
    `pages`: the pages counted in its progress line (default: every page); one skeleton each."""
    counted = tuple(pages) if pages is not None else tuple(q.page_ids())
    key = (id(q), page_id, year, counted)
    hit = _skeletons.get(key)
    if hit is not None and hit[0] is q:
        return hit[1]
    built = _build_skeleton(q, page_id, year, counted)
    with _lock:
        if len(_skeletons) >= MAX_SKELETONS:
            _skeletons.clear()
        _skeletons[key] = (q, built)  # holding q keeps id(q) from being reused
    return built


def clear() -> None:
    with _lock:
        _skeletons.clear()


def where_line(institution: str, unit: str | None) -> str:
    """The "institution · unit" line as form.html writes it (escaped)."""
    return str(escape(institution)) + (f" &middot; {escape(unit)}" if unit else "")


def render_page(q: Questionnaire, page_id: str, link: LinkView, action: str, shown: str) -> str:
    """The questionnaire page of one link on `page_id` (no errors, no notice): the GET page."""
    sk = skeleton(q, page_id, link.year, shown_pages(q, page_id, link.answers))
    if sk is None:
        context = form_context(q, page_id, link.year, link.institution, link.unit, link.answers, {},
                               None, shown, action)
        return get_env().get_template(TEMPLATE).render(context)
    return sk.fill(where_line(link.institution, link.unit), str(escape(action)), str(escape(shown)),
                   link.answers)


def first_page(q: Questionnaire, answers: Mapping[str, Any], requested: str | None) -> str:
    """The page to show: the requested one if it exists, else where the respondent left off.
    A requested page the respondent is not shown (a follow-up part their answers skip) gives the
    next page they are shown."""
    if requested is not None and requested in q.page_ids():
        return requested if requested in q.page_ids(answers) else q.neighbour(requested, answers)
    return (first_incomplete_page(q, answers) or CONFIRM_PAGE) if answers else q.pages[0].id
