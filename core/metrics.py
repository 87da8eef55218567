"""Prometheus metrics: the process-side instruments and the exposition (docs/observability.md).

Every process (web workers, `spibot worker`, the scheduler) counts into the instruments below.
With PROMETHEUS_MULTIPROC_DIR set (a setting, or the environment variable itself) prometheus_client
runs in multiprocess mode: each process writes its values to memory-mapped files in that
directory and `exposition()` sums them, so one scrape of any web worker sees every process of
the host that shares the directory. Without it each process keeps its own values (development,
tests). A process that has no web server of its own (a standalone `spibot worker`) can serve its
values on METRICS_PORT (`serve_process_metrics`).

Figures read from the database (outbox depth, senders' caps, heartbeats) are not instruments:
they are computed at scrape time by a collector the composition layer gives `exposition()`,
behind `Cached` so that scrapes, however frequent, query the database at most once per TTL.
"""

from __future__ import annotations

import glob
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from core.config import get_settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_dir = get_settings().prometheus_multiproc_dir
if _dir is not None and str(_dir) and not os.environ.get(MULTIPROC_ENV):
    # prometheus_client picks its value store when it is first imported: before the import below
    os.environ[MULTIPROC_ENV] = str(_dir)
    _dir.mkdir(parents=True, exist_ok=True)

from prometheus_client import (  # noqa: E402 - after the environment above
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import Collector  # noqa: E402

P = ParamSpec("P")
R = TypeVar("R")

CONTENT_TYPE = CONTENT_TYPE_LATEST

# --- dispatch ----------------------------------------------------------------------------------
SENDS = Counter("spibot_sends", "Messages accepted by the provider (rate() = sends per second).",
                ["channel", "sender"])
SEND_ERRORS = Counter("spibot_send_errors", "Sends the provider refused or that failed, by class and code.",
                      ["channel", "error_class", "code"])
CALLBACK_LAG = Histogram(
    "spibot_callback_lag_seconds", "Status callback received minus the message's sent time.", ["status"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600))
# --- web ---------------------------------------------------------------------------------------
WEBHOOK_SECONDS = Histogram(
    "spibot_webhook_seconds", "Time to answer a provider webhook (inbound message, status callback).",
    ["hook"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
BOT_REPLIES = Counter("spibot_bot_replies", "Inbound messages the bot decided, by intent.", ["intent"])
# --- scheduler ---------------------------------------------------------------------------------
JOB_RUNS = Counter("spibot_scheduler_job_runs", "Scheduler job runs, by outcome (ok or error).",
                   ["job", "outcome"])
JOB_SECONDS = Histogram("spibot_scheduler_job_seconds", "Scheduler job durations.", ["job"],
                        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
# --- database pool (every process's SQLAlchemy pools, summed over live processes) ---------------
DB_POOL_CHECKED_OUT = Gauge("spibot_db_pool_checked_out", "Database connections in use.",
                            multiprocess_mode="livesum")
DB_POOL_CAPACITY = Gauge("spibot_db_pool_capacity",
                         "Connections the pools may open (pool size + overflow).", multiprocess_mode="livesum")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def timed_job(func: Callable[P, R]) -> Callable[P, R]:
    """Count a scheduler job's runs (ok / error) and time it; exceptions go on to the scheduler."""
    name = func.__name__

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter()
        outcome = "error"
        try:
            result = func(*args, **kwargs)
            outcome = "ok"
            return result
        finally:
            JOB_SECONDS.labels(name).observe(time.perf_counter() - start)
            JOB_RUNS.labels(name, outcome).inc()

    return wrapper


def observe_seconds(histogram: Histogram, label: str, start: float) -> None:
    """`histogram{label}` observes the time since `start` (a `time.perf_counter()` value)."""
    histogram.labels(label).observe(time.perf_counter() - start)


# --- database pool events (listened on the Pool class: every engine of the process) ------------

_pools: weakref.WeakSet[Any] = weakref.WeakSet()  # this process's pools (a disposed one drops out)
_pools_lock = threading.Lock()


def _capacity(pool: Any) -> int:
    size = pool.size() if hasattr(pool, "size") else 1
    return int(size) + max(int(getattr(pool, "_max_overflow", 0)), 0)


def _on_checkout(_dbapi: Any, _record: Any, proxy: Any) -> None:
    pool = proxy._pool  # noqa: SLF001 - the pool this connection is checked out from
    if pool not in _pools:
        with _pools_lock:
            _pools.add(pool)
            DB_POOL_CAPACITY.set(sum(_capacity(p) for p in list(_pools)))
    DB_POOL_CHECKED_OUT.inc()


def _on_checkin(_dbapi: Any, _record: Any) -> None:
    DB_POOL_CHECKED_OUT.dec()


def watch_db_pools() -> None:
    """Count checked-out connections of every SQLAlchemy pool of this process (idempotent)."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    if not event.contains(Pool, "checkout", _on_checkout):
        event.listen(Pool, "checkout", _on_checkout)
        event.listen(Pool, "checkin", _on_checkin)


watch_db_pools()


# --- exposition --------------------------------------------------------------------------------

class Cached(Collector):
    """A collector computed by `compute()` at most once per `ttl` seconds; between, the last
    families are served again. A failure serves nothing for that scrape (and is retried next)."""

    def __init__(self, compute: Callable[[], list[Any]], ttl: float = 5.0) -> None:
        self.compute = compute
        self.ttl = ttl
        self._at = -1e18
        self._families: list[Any] = []
        self._lock = threading.Lock()
        self.computed = 0  # how many times compute() ran (tests)

    def collect(self) -> Iterator[Any]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                try:
                    self._families = self.compute()
                except Exception:  # noqa: BLE001 - a scrape must not fail for one figure
                    import logging

                    logging.getLogger(__name__).exception("metrics: could not compute database figures")
                    self._families = []
                self._at = time.monotonic()
                self.computed += 1
            return iter(list(self._families))


def _prune_dead_live_gauges(path: str) -> None:
    """Remove the `live*` gauge files of processes that are gone (a SIGKILLed worker's pool
    would otherwise be counted forever). Same host / pid namespace only, like the directory."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = name.rsplit("_", 1)[-1].removesuffix(".db")
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(int(pid), path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition: this host's processes (multiprocess mode) or this process, followed
    by the `extra` collectors (computed in this process)."""
    path = multiprocess_dir()
    if path:
        _prune_dead_live_gauges(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    extra_registry = CollectorRegistry(auto_describe=False)
    for collector in extra:
        extra_registry.register(collector)
    return body + generate_latest(extra_registry)


def serve_process_metrics(port: int | None = None) -> bool:
    """A standalone process (e.g. `spibot worker` in its own container) serves its own values on
    METRICS_PORT (bound to METRICS_BIND). Returns whether a server was started."""
    settings = get_settings()
    port = settings.metrics_port if port is None else port
    if not port:
        return False
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=settings.metrics_bind, registry=registry)
    return True


def process_exit() -> None:
    """Called when a process ends cleanly: its live gauges leave the sums at once."""
    path = multiprocess_dir()
    if path:
        multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]
