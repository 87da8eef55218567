"""The read-only half of a national draw in a second process, while this one writes.

A national draw (`sampling.draw_samples`) spends about 40% of its time selecting (frame
queries, sorting, hashing, random draws: `population.selection`) and the rest writing
assignments. With the selection in a worker process the two halves run side by side on two
cores: the worker streams one campaign's Selection at a time and the writer records each as it
arrives.

The worker reads what the writing transaction sees (`core.db.reader_snapshot`): on PostgreSQL it
imports the writer's exported snapshot; on SQLite the writer holds the write lock, so the last
commit is its view. The caller only asks for a worker when that holds, and the worker's one
read transaction spans all its campaigns.

The worker is a fresh interpreter (`python -m population.parallel`, never a fork: the caller may
be a threaded web server holding open connections; and not multiprocessing's spawn, which
re-runs the caller's main script); it imports `population.selection` only, which imports no ORM.
Jobs go to its stdin and Selections come back on its stdout, pickled (our own child process).
On PostgreSQL a thread of the worker reads the next jobs' rows (`selection.read_job`) while the
main thread decides the current one (`selection.select_from`): the server's work on the frame
queries (about half of a selection's time) overlaps the worker's own.
"""

from __future__ import annotations

import os
import pickle
import queue
import select
import sqlite3
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from core.errors import SpibotError
from population.selection import DrawParams, Job, JobRows, Selection, read_job, select_from

WORKER_START_TIMEOUT_S = 60.0  # the first Selection, including the interpreter's start
READ_AHEAD_JOBS = 2  # jobs read ahead of the one being decided (each ~0.2 MB of rows per 1,500 people)


class WorkerFailed(SpibotError, RuntimeError):
    """The selection worker raised or died; the message carries its traceback."""


def reachable(url: str) -> bool:
    """Whether another process can open this database: PostgreSQL, or an SQLite file (not an
    in-memory database)."""
    if url.startswith("postgresql"):
        return True
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return url.startswith("sqlite") and path not in ("", ":memory:") and "mode=memory" not in path


def _connect(url: str, snapshot: str) -> tuple[Any, bool]:
    if url.startswith("sqlite"):
        path = quote(url.split(":///", 1)[1])
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("BEGIN")  # one read transaction for every campaign
        return conn, False
    # here, not at the top: only PostgreSQL needs it, and it would more than double the worker's
    # start (0.1-0.2 s more; measured 2026-12-07); SQLite draws never load it
    import psycopg

    pg = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1))
    pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    pg.execute("SET TRANSACTION SNAPSHOT %s" % _quote(snapshot))  # noqa: UP031 - an id, checked
    return pg, True


def _quote(snapshot: str) -> str:
    if not snapshot.replace("-", "").isalnum():
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    return f"'{snapshot}'"


def _work(out: IO[bytes], url: str, snapshot: str, jobs: Sequence[Job], params: DrawParams) -> None:
    def send(message: object) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        conn, postgres = _connect(url, snapshot)
        try:
            # PostgreSQL answers in its own process, so reading ahead overlaps the two; SQLite
            # reads in this one, where a reading thread only takes CPU from the writer.
            read = (_read_ahead(conn, postgres, jobs) if postgres
                    else ((job, read_job(conn, postgres, job)) for job in jobs))
            for job, rows in read:
                send(select_from(job, rows, params))
        finally:
            conn.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the writer stopped listening: it failed first and reports that
    except BaseException:  # noqa: BLE001 - reported to the writer, which raises it
        try:
            send(WorkerFailed(traceback.format_exc()))
        except (BrokenPipeError, ConnectionResetError):
            pass


_DONE = object()


def _read_ahead(conn: Any, postgres: bool, jobs: Sequence[Job]) -> Iterator[tuple[Job, JobRows]]:
    """(job, its rows) in job order, read by a thread up to READ_AHEAD_JOBS ahead of the
    consumer (the connection is the thread's alone until this generator ends). An error in the
    thread is raised here, in order; closing the generator stops the thread."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD_JOBS)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for job in jobs:
                if not put((job, read_job(conn, postgres, job))):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)
            return
        put(_DONE)

    reader = threading.Thread(target=read, name="selection-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


class Worker:
    """The selection worker process, started at once so that its interpreter starts while the
    caller prepares the jobs; `selections` hands them over. Use it as a context manager: the
    end stops the worker (at once if it never got jobs)."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "population.parallel"], cwd=os.getcwd(), env=env,  # noqa: S603 - our own module
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def selections(self, url: str, snapshot: str, jobs: Sequence[Job], params: DrawParams) -> Iterator[Selection]:
        """The jobs' Selections, in job order. Closing the iterator early (the writer failed)
        stops the worker."""
        worker = self.process
        assert worker.stdin is not None and worker.stdout is not None
        try:
            pickle.dump((url, snapshot, list(jobs), params), worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            worker.stdin.close()
            for i in range(len(jobs)):
                if i == 0 and not select.select([worker.stdout], [], [], WORKER_START_TIMEOUT_S)[0]:
                    raise WorkerFailed(f"the selection worker sent nothing in {WORKER_START_TIMEOUT_S:.0f} s")
                try:
                    message = pickle.load(worker.stdout)  # noqa: S301 - from our own child process
                except EOFError:
                    raise WorkerFailed(f"the selection worker exited (code {worker.poll()}) "
                                       f"after {i} of {len(jobs)} campaigns") from None
                if isinstance(message, WorkerFailed):
                    raise message
                yield message
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker: without jobs it exits at once; with them it stops at its next send."""
        worker = self.process
        for pipe in (worker.stdin, worker.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass
        try:
            worker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _main() -> None:
    out = os.fdopen(os.dup(1), "wb")  # the Selections' channel; anything printed goes to stderr
    os.dup2(2, 1)
    try:
        url, snapshot, jobs, params = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our parent
    except EOFError:
        return  # stopped before it got jobs (the writer refused a campaign while preparing)
    _work(out, url, snapshot, jobs, params)
    out.close()


if __name__ == "__main__":
    # Run the imported module's code: a pickled WorkerFailed must name population.parallel, not __main__.
    from population.parallel import _main as main

    main()
