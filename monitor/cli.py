"""`spibot users …` (dashboard accounts) and `spibot monitor refresh` (national snapshot)."""

from __future__ import annotations

import typer
from rich.table import Table

from core.audit import cli_actor
from core.console import console, fail
from core.db import session_scope
from monitor.auth import AuthError
from monitor.snapshot import refresh_snapshots
from monitor.users import (
    add_user,
    list_users,
    reset_totp,
    resolve_institution,
    set_active,
    set_password,
)

users_app = typer.Typer(help="Dashboard users (admin, pic, viewer).", no_args_is_help=True)
monitor_app = typer.Typer(help="The PIC dashboard.", no_args_is_help=True)



@users_app.command("add")
def users_add(
    login: str = typer.Argument(..., help="Login name (lower case)."),
    role: str = typer.Option("pic", help="admin | pic | viewer"),
    institution: str = typer.Option("", help="Institution code or id (required for pic/viewer)."),
    name: str = typer.Option("", help="Full name."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 help="At least 10 characters (prompted if not given)."),
) -> None:
    """Create a dashboard user."""
    try:
        with session_scope(write=True) as session:
            inst_id = resolve_institution(session, institution)
            add_user(session, login=login, password=password, role=role, institution_id=inst_id,
                     name=name, actor=cli_actor())
    except AuthError as exc:
        fail(str(exc))
    console.print(f"[green]User {login} created ({role}).[/green]")


@users_app.command("list")
def users_list() -> None:
    """List dashboard users."""
    table = Table("login", "name", "role", "institution", "active", "last login")
    with session_scope() as session:
        for u in list_users(session):
            table.add_row(u.login, u.name, u.role, str(u.institution_id or "-"),
                          "yes" if u.active else "no",
                          u.last_login_at.isoformat(timespec="minutes") if u.last_login_at else "-")
    console.print(table)


@users_app.command("set-password")
def users_set_password(
    login: str = typer.Argument(...),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Set a new password (logs the user out everywhere and lifts a lockout)."""
    try:
        with session_scope(write=True) as session:
            set_password(session, login, password, actor=cli_actor())
    except AuthError as exc:
        fail(str(exc))
    console.print(f"[green]Password of {login} changed.[/green]")


@users_app.command("disable")
def users_disable(
    login: str = typer.Argument(...),
    enable: bool = typer.Option(False, "--enable", help="Re-enable instead."),
) -> None:
    """Disable a user (or re-enable with --enable)."""
    try:
        with session_scope(write=True) as session:
            set_active(session, login, enable, actor=cli_actor())
    except AuthError as exc:
        fail(str(exc))
    console.print(f"[green]User {login} {'enabled' if enable else 'disabled'}.[/green]")


@users_app.command("reset-2fa")
def users_reset_totp(login: str = typer.Argument(...)) -> None:
    """Remove a user's TOTP second factor (lost phone); they may enrol again after logging in."""
    try:
        with session_scope(write=True) as session:
            reset_totp(session, login, actor=cli_actor())
    except AuthError as exc:
        fail(str(exc))
    console.print(f"[green]Second factor of {login} removed.[/green]")


@monitor_app.command("refresh")
def monitor_refresh() -> None:
    """Recompute the national snapshot (pre-aggregated figures per campaign)."""
    count = refresh_snapshots()
    console.print(f"[green]Snapshot refreshed for {count} campaign(s).[/green]")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `spibot` app."""
    app.add_typer(users_app, name="users")
    app.add_typer(monitor_app, name="monitor")
