"""Preflight: what must be right before a bulk wave goes out, checked from the settings (and the
stored template approvals, and an SMTP login). `spibot check` prints each problem in Indonesian
and English; `spibot serve` in ENV=prod holds every WhatsApp sender's bulk lane while any check
fails (hold code "preflight") and lifts those holds at the first start where all pass.

Only the checks of the configured backends run: Twilio's when WHATSAPP_BACKEND=twilio, SMTP's
when EMAIL_BACKEND=smtp; PUBLIC_BASE_URL whenever a real channel is on or ENV=prod.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers
import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from core.aio import run_sync
from core.config import Settings, get_settings
from core.db import session_scope
from core.errors import SpibotError
from dispatch import holds
from dispatch.content import WHATSAPP_TEMPLATES
from dispatch.models import HoldScope, TemplateApproval

log = logging.getLogger("spibot.dispatch")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
SMTP_TIMEOUT_SECONDS = 5.0  # a start-up must not wait long on an unreachable mail server
HOLD_CODE = "preflight"
ACTOR = "system:preflight"


@dataclass(frozen=True)
class Problem:
    """One failed check: the setting to fix, and what to do, in Indonesian and in English."""

    setting: str
    message_id: str
    message_en: str


def _twilio_credentials(settings: Settings) -> list[Problem]:
    out = []
    if not ACCOUNT_SID.fullmatch(settings.twilio_account_sid or ""):
        out.append(Problem("TWILIO_ACCOUNT_SID",
                           "bukan Account SID Twilio (AC + 32 karakter heksadesimal); salin dari Twilio Console.",
                           "is not a Twilio Account SID (AC + 32 hex characters); copy it from the Twilio Console."))
    token = (settings.twilio_auth_token or "").strip()
    if not token or "placeholder" in token:
        out.append(Problem("TWILIO_AUTH_TOKEN",
                           "belum diisi (masih placeholder); salin Auth Token dari Twilio Console ke .env.",
                           "is not set (still the placeholder); copy the Auth Token from the Twilio Console "
                           "into .env."))
    return out


def _whatsapp_senders(settings: Settings) -> list[Problem]:
    out = []
    for name, value in (("WHATSAPP_SENDER_INTERNAL", settings.whatsapp_sender_internal),
                        ("WHATSAPP_SENDER_EXTERNAL", settings.whatsapp_sender_external)):
        number = value.removeprefix("whatsapp:")
        try:
            valid = (value.startswith("whatsapp:+") and re.fullmatch(r"\+[0-9]{8,15}", number) is not None
                     and phonenumbers.is_valid_number(phonenumbers.parse(number)))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            out.append(Problem(name,
                               f"'{value}' bukan nomor pengirim yang sah; tulis sebagai whatsapp:+E.164, "
                               "misalnya whatsapp:+628111919476.",
                               f"'{value}' is not a valid sender; write it as whatsapp:+E.164, "
                               "e.g. whatsapp:+628111919476."))
    return out


def _content_sids(settings: Settings) -> tuple[list[Problem], dict[str, str]]:
    """Problems with the configured Content SIDs, and the well-formed ones by template."""
    out, good = [], {}
    for template in WHATSAPP_TEMPLATES:
        name = f"TWILIO_CONTENT_SID_{template.upper()}"
        sid = str(getattr(settings, name.lower()) or "")
        if CONTENT_SID.fullmatch(sid):
            good[template] = sid
            continue
        out.append(Problem(name,
                           f"'{sid}' bukan Content SID (HX + 32 karakter heksadesimal); buat template dengan "
                           "`spibot templates --create` dan salin SID-nya ke .env.",
                           f"'{sid}' is not a Content SID (HX + 32 hex characters); create the templates with "
                           "`spibot templates --create` and put their SIDs into .env."))
    return out, good


def _approvals(sids: dict[str, str]) -> list[Problem]:
    """Each template as last read from Twilio (`spibot templates --status`, or the scheduler)."""
    # here, not at the top: dispatch.templates loads the Twilio SDK (~0.2 s on `spibot --help`)
    from dispatch.templates import CATEGORY

    out = []
    try:
        with session_scope() as session:
            rows = {t: session.get(TemplateApproval, t) for t in sids}
    except SQLAlchemyError as exc:
        return [Problem("DATABASE_URL", f"basis data tidak dapat dibaca ({type(exc).__name__}); jalankan "
                        "`spibot db upgrade` dan periksa DATABASE_URL.",
                        f"the database cannot be read ({type(exc).__name__}); run `spibot db upgrade` and "
                        "check DATABASE_URL.")]
    for template, sid in sids.items():
        name = f"TWILIO_CONTENT_SID_{template.upper()}"
        row = rows[template]
        if row is None or row.content_sid != sid:
            out.append(Problem(name, f"status persetujuan template {template} belum diketahui; jalankan "
                               "`spibot templates --status`.",
                               f"the approval of template {template} is not known; run `spibot templates --status`."))
        elif row.status != "approved" or row.category != CATEGORY:
            out.append(Problem(name,
                               f"template {template} berstatus {row.status}, kategori {row.category or '-'}; "
                               f"harus approved sebagai {CATEGORY}. Ajukan dengan `spibot templates --submit` "
                               "lalu periksa dengan `spibot templates --status`.",
                               f"template {template} is {row.status}, category {row.category or '-'}; it must be "
                               f"approved as {CATEGORY}. Submit it with `spibot templates --submit`, then check "
                               "with `spibot templates --status`."))
    return out


def _public_base_url(settings: Settings) -> list[Problem]:
    parts = urlsplit(settings.public_base_url)
    host = (parts.hostname or "").lower()
    local = host in ("", "localhost") or host.endswith((".localhost", ".local"))
    try:
        ip = ipaddress.ip_address(host)
        local = local or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified
    except ValueError:
        pass
    if parts.scheme == "https" and not local:
        return []
    return [Problem("PUBLIC_BASE_URL",
                    f"'{settings.public_base_url}' harus alamat https yang dapat dibuka dari internet "
                    "(bukan localhost atau alamat jaringan lokal): tautan survei dan webhook Twilio memakainya.",
                    f"'{settings.public_base_url}' must be an https address reachable from the internet "
                    "(not localhost or a private address): survey links and Twilio's webhooks use it.")]


def _daily_limit(settings: Settings) -> list[Problem]:
    if settings.whatsapp_daily_limit is not None:
        return []
    return [Problem("WHATSAPP_DAILY_LIMIT",
                    "belum diisi; isi dengan batas pesan WhatsApp akun (250, 2000, 10000, 100000; "
                    "0 = tanpa batas), lihat docs/whatsapp.md §1.",
                    "is not set; set it to the account's WhatsApp messaging-limit tier (250, 2000, 10000, "
                    "100000; 0 = unlimited), see docs/whatsapp.md §1.")]


class _LoginRefused(SpibotError):
    """The SMTP server answered but would not log us in."""


async def _smtp_login(settings: Settings) -> None:
    # here, not at the top: `spibot --help` imports this module (dispatch.cli), and aiosmtplib adds
    # ~0.07 s there (~6 ms of imports, enough to tip start-up into one more full garbage collection)
    import aiosmtplib

    smtp = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                           local_hostname=settings.smtp_local_hostname, use_tls=settings.smtp_tls,
                           start_tls=settings.smtp_starttls if not settings.smtp_tls else False,
                           timeout=SMTP_TIMEOUT_SECONDS)
    async with asyncio.timeout(SMTP_TIMEOUT_SECONDS * 2):
        await smtp.connect()
        try:
            await smtp.ehlo()
            if settings.smtp_username:
                try:
                    await smtp.login(settings.smtp_username, settings.smtp_password or "")
                except aiosmtplib.SMTPException as exc:  # refused, or no AUTH offered at all
                    raise _LoginRefused(str(exc)) from None
        finally:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()


def _smtp(settings: Settings) -> list[Problem]:
    # here, not at the top: the start-up cost noted in _smtp_login
    import aiosmtplib

    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        run_sync(lambda: _smtp_login(settings))
    except _LoginRefused as exc:
        what = str(exc)[:160]
        return [Problem("SMTP_USERNAME", f"login SMTP ke {where} gagal ({what}); periksa SMTP_USERNAME "
                        "dan SMTP_PASSWORD.",
                        f"the SMTP login to {where} failed ({what}); check SMTP_USERNAME and SMTP_PASSWORD.")]
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        what = f"{type(exc).__name__}: {exc}"[:160]
        return [Problem("SMTP_HOST", f"server SMTP {where} tidak dapat dihubungi ({what}); periksa SMTP_HOST, "
                        "SMTP_PORT, SMTP_TLS dan SMTP_STARTTLS.",
                        f"cannot talk to the SMTP server {where} ({what}); check SMTP_HOST, SMTP_PORT, "
                        "SMTP_TLS and SMTP_STARTTLS.")]
    return []


def run_checks(settings: Settings, *, smtp_login: bool = True) -> list[Problem]:
    """Every check relevant to the configured backends; an empty list means ready to send."""
    problems: list[Problem] = []
    twilio = settings.whatsapp_backend == "twilio"
    smtp = settings.email_backend == "smtp"
    if twilio:
        problems += _twilio_credentials(settings)
        problems += _whatsapp_senders(settings)
        sid_problems, good = _content_sids(settings)
        problems += sid_problems
        problems += _approvals(good)
        problems += _daily_limit(settings)
    if twilio or smtp or settings.env == "prod":
        problems += _public_base_url(settings)
    if smtp and smtp_login:
        problems += _smtp(settings)
    return problems


def enforce(settings: Settings, problems: list[Problem]) -> None:
    """Hold every configured WhatsApp sender's bulk lane while there are problems (replies still
    go); with none, lift the holds an earlier start set."""
    senders = sorted({settings.whatsapp_sender_internal, settings.whatsapp_sender_external})
    with session_scope(write=True) as session:
        held = {h.target: h.code for h in holds.listed(session) if h.scope == HoldScope.sender}
        if problems:
            reason = "preflight failed: " + ", ".join(sorted({p.setting for p in problems})) + " (spibot check)"
            for sender in senders:
                if sender not in held:
                    holds.hold(session, HoldScope.sender, sender, reason=reason, code=HOLD_CODE, actor=ACTOR)
            return
        for target, code in held.items():
            if code == HOLD_CODE:
                holds.resume(session, HoldScope.sender, target, actor=ACTOR)


def at_start(settings: Settings, *, checks: Callable[[Settings], list[Problem]] = run_checks) -> list[Problem]:
    """`spibot serve` in ENV=prod: check, log each problem, hold or release (see `enforce`)."""
    problems = checks(settings)
    for p in problems:
        log.error("preflight: %s: %s", p.setting, p.message_en)
    if problems:
        log.error("bulk WhatsApp sending is held until `spibot check` passes and spibot is restarted")
    enforce(settings, problems)
    return problems


def check(
    smtp: bool = typer.Option(True, "--smtp/--no-smtp", help="Also log in to the SMTP server."),
) -> None:
    """Check the settings before sending (Content SIDs, template approval, Twilio credentials,
    senders, PUBLIC_BASE_URL, SMTP login, WHATSAPP_DAILY_LIMIT); exit code 1 if anything fails."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"✗ settings: .env tidak dapat dipakai / .env is not usable: {err['msg']}")
        raise typer.Exit(1) from None
    problems = run_checks(settings, smtp_login=smtp)
    for p in problems:
        typer.echo(f"✗ {p.setting}: {p.message_id} / {p.message_en}")
    if problems:
        raise typer.Exit(1)
    typer.echo("Semua pemeriksaan lulus / All checks passed")
