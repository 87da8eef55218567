"""Core commands: database migrations and the server."""

from __future__ import annotations

from typing import Any

import typer

from core.console import console, fail

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the latest migration."""
    from core.migrate import upgrade

    upgrade()
    console.print("[green]Database is up to date.[/green]")


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
) -> None:
    """Start the web server (with the scheduler and one worker, as the embedded default)."""
    import uvicorn

    from core.config import get_settings
    from core.masking import configure_logging
    from core.migrate import upgrade

    settings = get_settings()
    configure_logging(settings.log_level)
    upgrade()
    if settings.env == "prod":  # before the worker starts: no bulk until `spibot check` passes
        from dispatch.preflight import at_start

        at_start(settings)
    import os

    import scheduler as scheduler_module
    from web import FREEZE_GC_ENV

    os.environ[FREEZE_GC_ENV] = "1"  # each web process freezes its start-up objects and lowers
    # the thread switch interval (web.lifespan)
    background = scheduler_module.start_background(with_scheduler=scheduler, with_worker=worker)
    if background.scheduler is not None and workers <= 1:
        _freeze_after_startup_jobs(background.scheduler)
    try:
        # log_config=None: uvicorn's records go through our root handler, which masks personal data.
        uvicorn.run("web:app", host=host or settings.host, port=port or settings.port,
                    log_level="warning", log_config=None, workers=max(1, workers))
    finally:
        background.stop()


def _freeze_after_startup_jobs(sched: Any) -> None:
    """Once the scheduler's start-up run of its jobs is over (their one-off "-now" jobs taken and
    the process quiet for a second), move every object alive then (the modules and caches those
    jobs loaded: ~200,000 objects with 50,000 respondents) out of the garbage collector's reach
    with `gc.freeze()`. Otherwise each full collection walks them: a 60-100 ms pause of the web
    process, which now and then lands inside a burst of webhooks (docs/benchmarks.md, issue 5)."""
    import gc
    import threading
    import time

    def wait_then_freeze() -> None:
        deadline = time.monotonic() + 600
        last = time.process_time()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            used, last = time.process_time() - last, time.process_time()
            pending = any(job.id.endswith("-now") for job in sched.get_jobs())
            if not pending and used < 0.05:
                break
        gc.collect()
        gc.freeze()

    threading.Thread(target=wait_then_freeze, name="gc-freeze", daemon=True).start()


institution_app = typer.Typer(help="Institutions (K/L/PD) taking part.", no_args_is_help=True)
campaign_app = typer.Typer(help="Survey campaigns.", no_args_is_help=True)



@institution_app.command("add")
def institution_add(
    code: str = typer.Argument(..., help="Short code, e.g. KAB-KATINGAN"),
    name: str = typer.Argument(..., help="Full name, e.g. 'Pemerintah Kabupaten Katingan'"),
    timezone: str = typer.Option("WIB", help="WIB, WITA or WIT"),
    kind: str = typer.Option("kabupaten", help="kabupaten, kota, provinsi, kementerian, lembaga"),
) -> None:
    """Add an institution."""
    from core.audit import cli_actor, record
    from core.db import session_scope
    from core.services import CoreError, add_institution

    try:
        with session_scope(write=True) as session:
            inst = add_institution(session, code, name, timezone=timezone, kind=kind)
            record(session, cli_actor(), "institution.add", institution_id=inst.id, target=code)
            console.print(f"Instansi {inst.name} ({inst.code}) dibuat, id {inst.id}.")
    except CoreError as exc:
        fail(str(exc))


@institution_app.command("list")
def institution_list() -> None:
    """List institutions."""
    from rich.table import Table
    from sqlmodel import select

    from core.db import session_scope
    from core.models import Institution

    table = Table("id", "kode", "nama", "zona waktu")
    with session_scope() as session:
        for inst in session.exec(select(Institution).order_by(Institution.code)):
            table.add_row(str(inst.id), inst.code, inst.name, inst.timezone)
    console.print(table)


@campaign_app.command("create")
def campaign_create(
    institution: str = typer.Option(..., help="Institution code"),
    year: int = typer.Option(..., help="Survey year, e.g. 2026"),
    opens: str = typer.Option(..., help="Opening date YYYY-MM-DD (local time)"),
    closes: str = typer.Option(..., help="Closing date YYYY-MM-DD (local time, inclusive)"),
) -> None:
    """Create a campaign for an institution."""
    from datetime import date

    from core.audit import cli_actor, record
    from core.db import session_scope
    from core.services import CoreError, create_campaign, get_institution

    try:
        opens_d, closes_d = date.fromisoformat(opens), date.fromisoformat(closes)
    except ValueError:
        fail("Tanggal harus berformat YYYY-MM-DD, misalnya 2026-07-01.")
    try:
        with session_scope(write=True) as session:
            inst = get_institution(session, institution)
            campaign = create_campaign(session, inst, year=year, opens=opens_d, closes=closes_d)
            record(session, cli_actor(), "campaign.create", institution_id=inst.id, target=str(campaign.id))
            console.print(f"Kampanye {campaign.name} dibuat, id {campaign.id}.")
    except CoreError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(institution_app, name="institution")
    app.add_typer(campaign_app, name="campaign")
    app.command("serve")(serve)
