"""Commands of dispatch: worker, templates, send invitations, remind."""

from __future__ import annotations

# Module note: `templates` imports the Twilio SDK lazily (dispatch.templates and
# dispatch.channels.twilio.content_api): hoisting them adds ~0.2 s to `spibot --help` (measured
# 2026-12-07).
import json

import typer
from rich.markup import escape
from rich.table import Table

from core.audit import cli_actor
from core.campaigns import ensure_sendable
from core.config import get_settings
from core.console import console
from core.db import session_scope
from core.masking import configure_logging
from core.models import Campaign
from dispatch import holds
from dispatch.content import content_definitions
from dispatch.cost import format_cost_id
from dispatch.holds import wave_target
from dispatch.limits import describe, plan
from dispatch.models import HoldScope
from dispatch.preflight import check
from dispatch.preview import wave_preview
from dispatch.service import enqueue_invitations, enqueue_reminder
from dispatch.worker import run_forever

send_app = typer.Typer(help="Enqueue messages to respondents.", no_args_is_help=True)


def worker(once: bool = typer.Option(False, "--once", help="Stop when nothing is left to send.")) -> None:
    """Run a dispatch worker (any number against PostgreSQL; one on SQLite)."""
    configure_logging(get_settings().log_level)
    stats = run_forever(once=once)
    console.print(f"worker finished: {stats}")


def templates(
    create: bool = typer.Option(False, "--create", help="Create them through Twilio's Content API."),
    submit: bool = typer.Option(False, "--submit", help="Submit each configured Content SID for WhatsApp "
                                "approval as UTILITY (once: an already submitted one is left alone)."),
    status: bool = typer.Option(False, "--status", help="Read each template's approval status and "
                                "category, store it, and hold any template not approved as UTILITY."),
) -> None:
    """Print the WhatsApp Content API definitions (twilio/call-to-action, Bahasa Indonesia)."""
    if submit or status:
        if create:
            console.print("[red]Create first, put the new SIDs into .env, then --submit / --status.[/red]")
            raise typer.Exit(2)
        _template_approvals(submit=submit, status=status)
        return
    definitions = content_definitions()
    if not create:
        console.print_json(json.dumps(definitions, ensure_ascii=False))
        return
    from dispatch.channels.twilio.content_api import create_templates  # lazy: see module note

    for name, sid in create_templates(definitions):
        console.print(f"[green]created[/green] {name}: {sid}  (set TWILIO_CONTENT_SID_... in .env)")


def _template_approvals(*, submit: bool, status: bool) -> None:
    from dispatch import templates as service  # lazy: see module note

    if get_settings().whatsapp_backend != "twilio":
        console.print("[red]WHATSAPP_BACKEND is not twilio: there are no Twilio templates to submit or check.[/red]")
        raise typer.Exit(2)
    if submit:
        with session_scope() as session:
            for s in service.submit(session):
                console.print(f"{s.template} {s.content_sid}: {s.action} ({s.status or '-'}) {s.note}", markup=False)
    if status:
        fetched = service.fetch_approvals()  # before the write session: no lock held on the network
        with session_scope(write=True) as session:
            states = service.sync_approvals(session, fetched)
        table = Table("template", "content SID", "status", "category", "sending", "note")
        for t in states:
            sending = "HELD" if t.held else "ok"
            table.add_row(t.template, t.content_sid, t.status or "?", t.category or "-",
                          sending + (f" ({t.change})" if t.change else ""), escape(t.error or t.rejection_reason))
        console.print(table)
        if any(t.held or t.error for t in states):
            raise typer.Exit(1)


@send_app.command("invitations")
def send_invitations(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Enqueue the first wave (invitations) of a campaign; idempotent. Shows the number of
    messages, their estimated cost and the projected finish under the messaging limit first."""
    try:
        with session_scope() as session:
            found = session.get(Campaign, campaign)
            if found is not None:
                ensure_sendable(found)  # closed: refused before any preview or question
            preview = wave_preview(session, campaign)
        console.print(f"{preview.whatsapp} WhatsApp, {preview.email} email — {format_cost_id(preview.cost)}")
        console.print(_plan_line(campaign, extra=preview.whatsapp))
        if not yes and not typer.confirm("Kirim sekarang? / Send now?"):
            raise typer.Exit(1)
        with session_scope(write=True) as session:
            n = enqueue_invitations(session, campaign, actor=cli_actor())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{n} invitations enqueued for campaign {campaign}.")


def _plan_line(campaign: int | None, extra: int = 0) -> str:
    with session_scope() as session:
        return describe(plan(session, limit=get_settings().whatsapp_daily_limit, campaign_id=campaign,
                             extra=extra))


def plan_command(campaign: int | None = typer.Option(None, "--campaign", help="Campaign id.")) -> None:
    """When the last waiting WhatsApp invitation is expected to go, under WHATSAPP_DAILY_LIMIT."""
    console.print(_plan_line(campaign))


def _hold_target(campaign: int | None, wave: int | None, sender: str | None,
                 template: str | None) -> tuple[HoldScope, str]:
    chosen = [x is not None for x in (campaign, sender, template)]
    if sum(chosen) != 1 or (wave is not None and campaign is None):
        console.print("[red]Give exactly one of --campaign (optionally with --wave), --sender, --template.[/red]")
        raise typer.Exit(2)
    if sender is not None:
        return HoldScope.sender, sender if sender.startswith("whatsapp:") else f"whatsapp:{sender}"
    if template is not None:
        return HoldScope.template, template
    assert campaign is not None
    if wave is not None:
        return HoldScope.wave, wave_target(campaign, wave)
    return HoldScope.campaign, str(campaign)


def pause(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id."),
    wave: int | None = typer.Option(None, "--wave", help="Only this wave (1 = invitations)."),
) -> None:
    """Pause bulk sending of a campaign (or one wave); nothing is lost, `resume` continues."""
    scope, target = _hold_target(campaign, wave, None, None)
    with session_scope(write=True) as session:
        created = holds.hold(session, scope, target, reason="paused by a person", code="manual", actor=cli_actor())
    console.print(f"{scope} {target}: " + ("paused." if created else "was already paused."))


def resume(
    campaign: int | None = typer.Option(None, "--campaign", help="Campaign id."),
    wave: int | None = typer.Option(None, "--wave", help="Only this wave."),
    sender: str | None = typer.Option(None, "--sender", help="A WhatsApp sender held by the worker."),
    template: str | None = typer.Option(None, "--template", help="A template held as not approved."),
) -> None:
    """Resume what `pause` (or the worker, or the quality guard) stopped; each message goes once."""
    scope, target = _hold_target(campaign, wave, sender, template)
    with session_scope(write=True) as session:
        lifted = holds.resume(session, scope, target, actor=cli_actor())
    console.print(f"{scope} {target}: " + ("resumed." if lifted else "was not held."))


def cancel(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id."),
    wave: int | None = typer.Option(None, "--wave", help="Only this wave."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Cancel the messages a campaign (or wave) still has waiting; they are never sent."""
    if not yes and not typer.confirm(f"Cancel every waiting message of campaign {campaign}?"):
        raise typer.Exit(1)
    with session_scope(write=True) as session:
        n = holds.cancel(session, campaign, wave=wave, actor=cli_actor())
    console.print(f"{n} waiting messages cancelled.")


def holds_command() -> None:
    """List what is held (paused campaigns and waves, senders held by the worker) and why."""
    with session_scope() as session:
        rows = holds.listed(session)
    if not rows:
        console.print("Nothing is held.")
    for h in rows:
        console.print(f"{h.scope} {h.target}  since {h.since:%Y-%m-%d %H:%M} UTC  "
                      f"by {h.actor}  {h.code or ''} {h.reason}")


def remind(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id."),
    unit: int | None = typer.Option(None, "--unit", help="Only this unit's non-responders."),
) -> None:
    """Enqueue a reminder to non-responders (min gap and max count apply)."""
    try:
        with session_scope(write=True) as session:
            n = enqueue_reminder(session, campaign, unit_id=unit, actor=cli_actor())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{n} reminders enqueued for campaign {campaign}" + (f", unit {unit}." if unit else "."))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `spibot` app."""
    app.command("worker")(worker)
    app.command("templates")(templates)
    app.command("remind")(remind)
    app.command("plan")(plan_command)
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("cancel")(cancel)
    app.command("holds")(holds_command)
    app.command("check")(check)
    app.add_typer(send_app, name="send")
