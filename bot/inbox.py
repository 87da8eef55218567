"""The webhook's own write: inbound messages stored by group commit.

A burst of webhooks would otherwise queue for the database one transaction each (on SQLite one
writer at a time, each waiting in SQLite's busy handler whose sleeps grow to 100 ms; on PostgreSQL
a round trip and a commit each). Instead every webhook hands its form to the process's batch
writer thread (core.batchwriter, as the registration and answer writers do), which
stores everything waiting with ONE statement in one transaction (`service.accept_many`), answers
each webhook, and wakes the bot's decider thread(s) (`service.wake`). A burst of 100 webhooks
costs a few statements and commits.

If a batch fails as a whole, each form is tried again on its own, so one bad form cannot fail the
others; a form that still fails raises in its webhook (500: Twilio retries it later).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from bot.service import accept_many, accepting, wake
from core.batchwriter import BatchWriter
from core.config import get_settings
from core.db import session_scope, write_lock
from dispatch import Incoming

MAX_BATCH = 200


@dataclass(frozen=True)
class InboxJob:
    message: Incoming
    database_url: str
    done: Callable[[Any], None]


def store(jobs: list[InboxJob]) -> list[bool]:
    """Store the batch in one transaction (True: stored, False: a retry / no id), then wake the
    decider. The process's batch writer redoes each job alone if the batch fails."""
    url = jobs[0].database_url
    with write_lock(url), session_scope(write=True, url=url) as session:
        stored = list(accept_many(session, [job.message for job in jobs]))
    if any(stored):
        wake()  # decide the replies (the decider yields while webhooks keep arriving)
    return stored


batch_writer: BatchWriter[InboxJob] = BatchWriter("bot-inbox", store, size=MAX_BATCH)


def submit(message: Incoming) -> Future[bool]:
    """Queue one message for the writer thread; the future says whether it was stored."""
    future: Future[bool] = Future()
    accepting.add(1)

    def done(result: Any) -> None:
        accepting.add(-1)  # before answering: the decider may start at once
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    batch_writer.submit(InboxJob(message, get_settings().database_url, done))
    return future
