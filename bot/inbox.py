"""The webhook's own write: inbound messages stored by group commit.

A burst of webhooks would otherwise queue for the database one transaction each (on SQLite one
writer at a time, each waiting in SQLite's busy handler whose sleeps grow to 100 ms; on PostgreSQL
a round trip and a commit each). Instead every webhook hands its form to one writer thread, which
stores everything waiting with ONE statement in one transaction (`service.accept_many`), answers
each webhook, and wakes the bot's decider thread(s) (`service.wake`). A burst of 100 webhooks
costs a few statements and commits.

If a batch fails as a whole, each form is tried again on its own, so one bad form cannot fail the
others; a form that still fails raises in its webhook (500: Twilio retries it later).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from bot.service import accept_many, accepting, wake
from core.db import session_scope, write_lock
from dispatch.channels.base import Incoming

log = logging.getLogger("spibot.bot")

MAX_BATCH = 200

_Item = tuple[Incoming, "Future[bool]"]


class GroupWriter:
    """One daemon thread per process storing queued inbound messages a batch at a time."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, message: Incoming) -> Future[bool]:
        """Queue one message; the future says whether it was stored (False: a retry / no id)."""
        future: Future[bool] = Future()
        accepting.add(1)
        self._queue.put((message, future))
        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="bot-inbox", daemon=True)
                    self._thread.start()
        return future

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            outcomes = self._store(batch)
            accepting.add(-len(batch))  # before answering: the processor may start at once
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            if any(outcome is True for outcome in outcomes):
                wake()  # decide the replies (the decider yields while webhooks keep arriving)

    def _store(self, batch: list[_Item]) -> list[bool | BaseException]:
        """Store the batch in one transaction; if that fails, each message on its own."""
        try:
            with write_lock(), session_scope(write=True) as session:
                return list(accept_many(session, [message for message, _ in batch]))
        except Exception as exc:  # noqa: BLE001 - answered to the webhook(s) concerned
            if len(batch) == 1:
                return [exc]
            log.exception("storing %d inbound messages together failed; one at a time", len(batch))
            return [self._store([item])[0] for item in batch]


writer = GroupWriter()
