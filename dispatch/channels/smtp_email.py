"""Email through aiosmtplib: a small pool of persistent SMTP connections (STARTTLS/TLS from
`.env`), each reused for many messages. No SMTP object leaves this module.

What Gmail and Yahoo ask of bulk senders (docs/whatsapp.md §6) is done here: every message is
DKIM-signed when DKIM_* is set (covering the RFC 8058 one-click unsubscribe headers), and goes out
with its own envelope sender when BOUNCE_ADDRESS is set (VERP, dispatch.bounces), so a bounce that
comes back later names its outbox row."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

import aiosmtplib
import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from core.config import Settings, get_settings
from dispatch.bounces import verp_address
from dispatch.channels.base import (
    AmbiguousError,
    OutMessage,
    PermanentError,
    ProviderMessage,
    RetryableError,
    SendResult,
    classify_smtp,
)
from dispatch.content import build_email

# What the DKIM signature covers: the RFC 8058 pair must be signed for one-click unsubscribe to
# count. A header listed but absent (alerts have no List-Unsubscribe) cannot be added later.
DKIM_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe",
                b"list-unsubscribe-post", b"mime-version", b"content-type")
_BARE_LF = re.compile(rb"\r?\n")


@dataclass(frozen=True)
class DkimSigner:
    selector: bytes
    domain: bytes
    key: bytes  # PEM (PKCS#1 or PKCS#8) RSA private key

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """None when DKIM is not configured; ValueError when it is only partly, or the key is
        unreadable: better no email at all than a whole wave of unsigned bulk mail."""
        values = (settings.dkim_private_key_file, settings.dkim_selector, settings.dkim_domain)
        if not any(values):
            return None
        if not all(values):
            raise ValueError("DKIM_PRIVATE_KEY_FILE, DKIM_SELECTOR and DKIM_DOMAIN go together")
        path = str(settings.dkim_private_key_file)
        try:
            with open(path, "rb") as f:
                key = f.read()
            parse_pem_private_key(key)
        except (OSError, UnparsableKeyError) as exc:
            raise ValueError(f"DKIM_PRIVATE_KEY_FILE {path}: not a readable RSA key ({exc})") from None
        return cls(str(settings.dkim_selector).encode(), str(settings.dkim_domain).encode(), key)

    def sign(self, raw: bytes) -> bytes:
        """`raw` with a DKIM-Signature (relaxed/relaxed, rsa-sha256) on top, and CRLF line ends
        throughout, as the SMTP client sends them (`Header.encode` folds with a bare LF): the
        bytes signed are the bytes the receiver gets."""
        raw = _BARE_LF.sub(b"\r\n", raw)
        signature = dkim.sign(raw, self.selector, self.domain, self.key,
                              canonicalize=(b"relaxed", b"relaxed"),
                              include_headers=list(DKIM_HEADERS))
        return bytes(signature) + raw


class SmtpEmailChannel:
    backend = "smtp"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] | None = None
        self._dkim = DkimSigner.from_settings(self.settings)

    def _pool(self) -> asyncio.Queue[aiosmtplib.SMTP | None]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(max(1, self.settings.smtp_pool_size)):
                self._idle.put_nowait(None)  # a free slot; connected on first use
        return self._idle

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, local_hostname=s.smtp_local_hostname,
            use_tls=s.smtp_tls, start_tls=s.smtp_starttls if not s.smtp_tls else False,
            username=s.smtp_username or None, password=s.smtp_password or None, timeout=30,
        )
        await smtp.connect()
        return smtp

    async def send(self, message: OutMessage) -> SendResult:
        msg_id = message.message_id or f"<{uuid.uuid4().hex}@spibot.local>"
        raw = build_email(
            to=message.to, sender=message.sender, subject=message.subject or "SPI",
            text=message.text or "", html=message.html or "", msg_id=msg_id,
            unsubscribe=dict(message.headers).get("unsubscribe", ""))
        if self._dkim is not None:
            raw = self._dkim.sign(raw)
        envelope_from = (verp_address(message.outbox_id, self.settings)
                         or parseaddr(message.sender)[1] or message.sender)
        return await self.send_raw(envelope_from, message.to, raw, msg_id)

    async def send_raw(self, envelope_from: str, to: str, raw: bytes, msg_id: str) -> SendResult:
        pool = self._pool()
        smtp = await pool.get()
        try:
            if smtp is None or not smtp.is_connected:
                try:
                    smtp = await self._connect()
                except (aiosmtplib.SMTPException, OSError) as exc:
                    smtp = None
                    raise RetryableError(f"cannot connect to the SMTP server: {exc}", code="connect") from None
            try:
                errors, _ = await smtp.sendmail(envelope_from, [to], raw)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                first = exc.recipients[0] if exc.recipients else None
                raise classify_smtp(first.code if first else 550, str(exc)) from None
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:
                    await _quiet_reset(smtp)
                raise classify_smtp(exc.code, exc.message) from None
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
                smtp = None  # the connection is gone; did the server take the message? unknown
                raise AmbiguousError(f"SMTP connection lost: {type(exc).__name__}", code="disconnect") from None
            if errors:
                code, text = next(iter(errors.values()))
                raise PermanentError(f"recipient refused: {code} {text}", code=str(code))
            return SendResult(provider_id=msg_id, status="sent", backend=self.backend)
        finally:
            pool.put_nowait(smtp)

    async def lookup(self, to: str, sender: str, since: datetime) -> list[ProviderMessage] | None:
        return None  # SMTP cannot tell: a stuck email becomes `unknown`, never resent blindly

    async def close(self) -> None:
        if self._idle is None:
            return
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            if smtp is not None and smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()


async def _quiet_reset(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.rset()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()
