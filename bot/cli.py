"""`spibot bot ...`: check a phrasing's intent, or chat with the bot from a terminal."""

from __future__ import annotations

# Module note: `chat` imports the bot's decider (bot.service) and the dispatch worker lazily:
# hoisting them adds ~0.07 s to `spibot --help` (~8 ms of imports, enough to tip start-up into one
# more full garbage collection; measured 2026-12-07).
import secrets

import typer

from bot.intents import intent_of
from bot.lookup import phone_of
from core.config import get_settings
from core.console import console
from core.db import session_scope
from dispatch import Incoming

bot_app = typer.Typer(help="The WhatsApp bot: intents and a terminal simulator.", no_args_is_help=True)


@bot_app.command("intent")
def intent(text: str = typer.Argument(..., help='A message, e.g. "isi survei ya pak".')) -> None:
    """Print the intent a text matches: isi_survei, tanya_spi, stop, start or help."""
    typer.echo(intent_of(text))


@bot_app.command("chat")
def chat(
    phone: str = typer.Option(..., "--phone", help="The respondent's WhatsApp number, E.164 (+62...)."),
    send: bool = typer.Option(True, help="Also run the dispatcher so replies are 'sent' (sandbox)."),
) -> None:
    """A terminal simulator of the whole conversation, through the same path as a real webhook."""
    from bot.service import receive  # lazy: see module note

    if phone_of(phone) is None:
        console.print(f"{phone!r} bukan nomor E.164; tulis seperti +6281234567890.", style="red",
                      markup=False, highlight=False)
        raise typer.Exit(2)
    settings = get_settings()
    console.print(f"Chat sebagai {phone}. Ketik pesan; baris kosong atau Ctrl-D untuk selesai.")
    while True:
        try:
            text = input("anda> ")
        except (EOFError, KeyboardInterrupt):
            break
        if not text.strip():
            break
        message = Incoming(sid=f"SMcli{secrets.token_hex(12)}", sender=f"whatsapp:{phone}",
                           to=settings.whatsapp_sender_internal, body=text)
        with session_scope(write=True) as session:
            result = receive(session, message)
        # soft_wrap: the terminal wraps long lines; rich would break a personal link in two
        for reply in result.replies:
            console.print(f"spi> {reply}", style="green", highlight=False, markup=False, soft_wrap=True)
        if not result.replies:
            console.print(f"[dim](tidak ada balasan: {result.status})[/dim]")
        if send and result.replies:
            from dispatch import run_until_idle  # lazy: see module note

            run_until_idle(timeout=10)


def register(app: typer.Typer) -> None:
    app.add_typer(bot_app, name="bot")
