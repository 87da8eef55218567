"""One writer thread per process that writes whatever jobs are waiting in one transaction.

The public forms' busiest writes (walk-in registrations: qr/writer.py; questionnaire answers:
responses/writer.py) come from many concurrent requests, each small. Each request's coroutine
hands its job to the process's writer thread and awaits the outcome (`deliver`); the thread
takes up to `size` waiting jobs of one database and calls `write(jobs)`, which decides and writes
them in one transaction and returns one result per job, in the order given. If that fails, each
job is redone alone, so one bad job never fails the others; a job that fails alone gets its
exception, which its request raises. Jobs are sorted by `order` first when given (a fixed lock
order across processes).

A job is any object with a `database_url` and a `done(result | exception)` callback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class Job(Protocol):
    @property
    def database_url(self) -> str: ...

    @property
    def done(self) -> Callable[[Any], None]: ...


J = TypeVar("J", bound=Job)
R = TypeVar("R")


class BatchWriter(Generic[J]):
    """The per-process writer thread (started on first use, and again after a fork)."""

    def __init__(self, name: str, write: Callable[[list[J]], Sequence[Any]], *, size: int = 64,
                 order: Callable[[J], Any] | None = None) -> None:
        self.name, self._write, self.size, self._order = name, write, size, order
        self._queue: queue.SimpleQueue[J] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid = 0

    def submit(self, job: J) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                threading.Thread(target=self._run, args=(self._queue,), name=self.name, daemon=True).start()
            self._queue.put(job)

    def write_batch(self, jobs: list[J]) -> None:
        """Write `jobs` (one database) in one transaction; if that fails, each in its own."""
        if self._order is not None:
            jobs = sorted(jobs, key=self._order)
        try:
            results = self._write(jobs)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request, or redone one by one
            if len(jobs) == 1:
                jobs[0].done(exc)
                return
            log.warning("%s: a batch of %d failed; writing them one by one", self.name, len(jobs))
            for job in jobs:
                self.write_batch([job])
            return
        for job, result in zip(jobs, results, strict=True):
            job.done(result)

    def _run(self, jobs: queue.SimpleQueue[J]) -> None:
        while True:
            batch = [jobs.get()]
            while len(batch) < self.size:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            by_database: dict[str, list[J]] = {}
            for job in batch:
                by_database.setdefault(job.database_url, []).append(job)
            for group in by_database.values():
                try:
                    self.write_batch(group)
                except BaseException as exc:  # noqa: BLE001 - never leave a request waiting
                    log.exception("%s failed", self.name)
                    for job in group:
                        job.done(exc)


async def deliver(submit: Callable[[Callable[[Any], None]], None]) -> Any:
    """Await the result another thread hands to the `done` callback given to `submit`
    (an exception is raised here)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def resolve(result: Any) -> None:
        if future.done():
            return
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    def done(result: Any) -> None:
        try:
            loop.call_soon_threadsafe(resolve, result)
        except RuntimeError:  # the request's event loop is gone (client or server went away)
            pass

    submit(done)
    return await future
