"""Core commands: database migrations and the server."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()
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
) -> None:
    """Start the web server (with the scheduler and one worker, as the embedded default)."""
    import uvicorn

    from core.config import get_settings
    from core.masking import configure_logging
    from core.migrate import upgrade

    settings = get_settings()
    configure_logging(settings.log_level)
    upgrade()
    import scheduler as scheduler_module

    background = scheduler_module.start_background(with_scheduler=scheduler, with_worker=worker)
    try:
        uvicorn.run("web:app", host=host or settings.host, port=port or settings.port, log_level="warning")
    finally:
        background.stop()


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("serve")(serve)
