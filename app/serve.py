"""`spibot serve`: the web server, with the scheduler and one dispatch worker in the same
process (the embedded default). `spibot scheduler`: the scheduler's jobs alone, for a deployment
that runs web, workers and scheduler as separate processes (deploy/, docs/deploy.md)."""

from __future__ import annotations

import os
import signal
import threading

import typer
import uvicorn

from app.tuning import FREEZE_GC_ENV, freeze_after_startup_jobs
from core.config import get_settings
from core.masking import configure_logging
from core.migrate import upgrade
from dispatch.preflight import at_start


def serve(
    host: str | None = typer.Option(None, help="Bind address (default from HOST)."),
    port: int | None = typer.Option(None, help="Port (default from PORT)."),
    scheduler: bool = typer.Option(True, help="Run the scheduler's jobs in this process."),
    worker: bool = typer.Option(True, help="Run one dispatch worker in this process."),
    workers: int = typer.Option(1, help="Web server processes (the scheduler and the dispatch "
                                "worker stay in this one process). PostgreSQL: 2 keeps the web "
                                "processes apart from the scheduler's jobs (faster webhook "
                                "answers, docs/benchmarks.md issue 5). SQLite: keep 1 (the "
                                "processes' writes would queue in SQLite's busy handler)."),
    migrate: bool = typer.Option(True, help="Upgrade the database schema first. A deployment "
                                 "runs `spibot db upgrade` as its own step and passes --no-migrate."),
) -> None:
    """Start the web server (with the scheduler and one worker, as the embedded default)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if migrate:
        upgrade()
    if settings.env == "prod":  # before the worker starts: no bulk until `spibot check` passes
        at_start(settings)
    import scheduler as scheduler_module  # an entry point of its own: imported only when serving

    os.environ[FREEZE_GC_ENV] = "1"  # each web process freezes its start-up objects and lowers
    # the thread switch interval (app.tuning.tune_web_process, from web.lifespan)
    background = scheduler_module.start_background(with_scheduler=scheduler, with_worker=worker)
    if background.scheduler is not None and workers <= 1:
        freeze_after_startup_jobs(background.scheduler)
    try:
        # log_config=None: uvicorn's records go through our root handler, which masks personal data.
        uvicorn.run("web:app", host=host or settings.host, port=port or settings.port,
                    log_level="warning", log_config=None, workers=max(1, workers),
                    # proxy headers only from FORWARDED_ALLOW_IPS (uvicorn trusts 127.0.0.1 by default)
                    proxy_headers=bool(settings.forwarded_allow_ips),
                    forwarded_allow_ips=settings.forwarded_allow_ips or None,
                    # SIGTERM: stop accepting, let in-flight requests finish for this long
                    timeout_graceful_shutdown=settings.shutdown_grace_seconds)
    finally:
        background.stop()


def run_scheduler() -> None:
    """Run the scheduler's jobs (no web server, no worker) until SIGTERM/SIGINT; exactly one
    such process per deployment."""
    settings = get_settings()
    configure_logging(settings.log_level)
    import scheduler as scheduler_module  # an entry point of its own: imported only when run

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    background = scheduler_module.start_background(with_scheduler=True, with_worker=False)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        background.stop()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("scheduler")(run_scheduler)
