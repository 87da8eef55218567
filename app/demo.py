"""`spibot demo`: a kabupaten with ~10 units and a few hundred synthetic people, sampled and
invited through the sandbox channels, so a newcomer sees the whole flow on a laptop."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import typer
from sqlmodel import Session, col, select

from app.serve import serve as serve_command
from core.clock import local, utcnow
from core.config import get_settings, reset_settings
from core.console import console
from core.db import session_scope
from core.migrate import upgrade
from core.models import Campaign, Institution, Unit
from core.services import add_institution, create_campaign
from dispatch.service import enqueue_invitations
from monitor.users import add_user
from population.importer import import_files
from population.sampling import draw_sample
from population.synthetic import write_population_workbook

DEMO_CODE = "KAB-CONTOH"
DEMO_NAME = "Pemerintah Kabupaten Contoh"


def load_demo(data_dir: Path, *, seed: int = 2024) -> dict[str, object]:
    """Create the demo institution, population, campaign, sample and invitations (once)."""

    with session_scope(write=True) as session:
        inst = session.exec(select(Institution).where(Institution.code == DEMO_CODE)).first()
        if inst is not None:
            campaign = session.exec(select(Campaign).where(Campaign.institution_id == inst.id)).first()
            return {"institution": inst, "campaign": campaign, "created": False}
        inst = add_institution(session, DEMO_CODE, DEMO_NAME, timezone="WIB")
        data_dir.mkdir(parents=True, exist_ok=True)
        workbook = data_dir / "populasi-contoh.xlsx"
        write_population_workbook(workbook, seed=seed, n_internal=300, n_external=260)
        today = local(utcnow(), inst.timezone).date()
        report = import_files(session, [workbook], inst, today)
        campaign = create_campaign(
            session, inst, year=today.year, opens=today, closes=today + timedelta(days=60)
        )
        draw = draw_sample(session, campaign, seed=seed)
        queued = enqueue_invitations(session, campaign.id)  # type: ignore[arg-type]
        _demo_user(session, inst, data_dir)
        return {
            "institution": inst, "campaign": campaign, "created": True,
            "import": report.summary(), "sample": draw, "queued": queued,
        }


def _demo_user(session: Session, inst: Institution, data_dir: Path) -> None:
    """A PIC login for the demo institution; its random password is kept in var/demo/."""

    password = secrets.token_urlsafe(12)
    add_user(session, login="pic", password=password, role="pic", institution_id=inst.id,
             name="PIC Inspektorat (demo)", actor="demo")
    (data_dir / "pic-password.txt").write_text(password + "\n")


def _first_poster(inst_code: str) -> str:


    with session_scope() as session:
        unit = session.exec(
            select(Unit).join(Institution).where(Institution.code == inst_code, Unit.serves_public)
            .order_by(col(Unit.id))
        ).first()
        return f"/qr/{inst_code}/{unit.code}/poster.pdf" if unit else f"/qr/{inst_code}"


def demo(
    serve: bool = typer.Option(False, "--serve", help="Start the server afterwards."),
) -> None:
    """Load the demo institution (once) and print the URLs to open."""
    settings = get_settings()
    if settings.whatsapp_backend == "sandbox" and settings.email_backend == "sandbox" and not (
        os.environ.get("QUIET_START") or os.environ.get("QUIET_END")
    ):
        # Sandbox only: a newcomer trying the demo at night should still see the invitations.
        os.environ["QUIET_START"] = os.environ["QUIET_END"] = "00:00"
        reset_settings()
        settings = get_settings()
        console.print("[yellow]Sandbox: jam tenang (quiet hours) dimatikan untuk demo.[/yellow]")
    upgrade()
    result = load_demo(settings.data_dir / "demo")
    base = settings.public_base_url.rstrip("/")
    inst = result["institution"]
    if result["created"]:
        console.print(f"[green]Demo dibuat:[/green] {inst.name}, {result['queued']} undangan diantrekan.")  # type: ignore[attr-defined]
    password_file = settings.data_dir / "demo" / "pic-password.txt"
    password = password_file.read_text().strip() if password_file.exists() else "(lihat spibot users)"
    console.print(
        "\n[bold]Buka di peramban:[/bold]\n"
        f"  Simulator WhatsApp (sandbox): {base}/sandbox/whatsapp\n"
        f"  Dasbor PIC:                   {base}/pic   (login: pic / {password})\n"
        f"  Poster QR (unit pertama):     {base}{_first_poster(DEMO_CODE)}\n"
        f"  Dokumentasi API:              {base}/api/docs\n",
        soft_wrap=True,  # URLs stay whole for copying
    )
    if serve:
        serve_command(host=None, port=None, scheduler=True, worker=True, workers=1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
