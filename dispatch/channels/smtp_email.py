"""Email through aiosmtplib: a small pool of persistent SMTP connections (STARTTLS/TLS from
`.env`), each reused for many messages. No SMTP object leaves this module."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from email.utils import parseaddr

import aiosmtplib

from core.config import Settings, get_settings
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


class SmtpEmailChannel:
    backend = "smtp"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] | None = None

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
        envelope_from = parseaddr(message.sender)[1] or message.sender
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
