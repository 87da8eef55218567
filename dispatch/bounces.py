"""Late bounces: per-message envelope senders (VERP), and the DSNs read back from a mailbox.

A server that accepted an email may still fail to deliver it, and later says so in a delivery
status notification (DSN, RFC 3464) sent to the envelope sender. With BOUNCE_ADDRESS set, every
email goes out with its own envelope sender, `<local>+<outbox id>-<hmac>@<domain>` (VERP), so the
bounce names its outbox row; the HMAC (SECRET_KEY) keeps a forged bounce from failing another
person's message. `poll_bounces` (a scheduler job) reads the unseen messages of the bounce mailbox
over IMAP and files each under one `Outcome`:

    failed     Action failed, Status 5.x.x: the row fails, its address becomes unreachable and the
               respondent gets the message by WhatsApp, as after a recipient refused at send time
    transient  delayed (4.x.x), delivered, relayed ...: the remote server is still trying; nothing
    skipped    ours, but the row had failed already (a second copy of the same bounce)
    not_ours   no outbox row matches (VERP, else Message-ID plus the recipient's address)
    forged     a VERP address whose signature is wrong: nothing is done
    unparsed   not a DSN we can read: nothing is done; logged with addresses masked
    error      our own failure (the database): left unseen, so the next poll tries again

Every message but an `error` is flagged \\Seen, so the next poll does not read it again; the
first four are also deleted (\\Deleted + EXPUNGE). `forged` and `unparsed` stay in the mailbox
for a person to look at.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hmac
import imaplib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from enum import StrEnum

from sqlmodel import Session

from core.config import Settings, get_settings
from core.db import session_scope
from core.errors import SpibotError
from core.masking import mask_email, mask_text
from core.tokens import token_for
from dispatch import content, outbox
from dispatch.models import Outbox

log = logging.getLogger("spibot.dispatch")
BATCH = 500  # messages read per poll; the rest wait for the next one
IMAP_TIMEOUT = 30.0


class Outcome(StrEnum):
    """What became of one message of the bounce mailbox (see the module docstring)."""

    failed = "failed"
    transient = "transient"
    skipped = "skipped"
    not_ours = "not_ours"
    forged = "forged"
    unparsed = "unparsed"
    error = "error"


DELETED = {Outcome.failed, Outcome.transient, Outcome.skipped, Outcome.not_ours}


# --- VERP ----------------------------------------------------------------------------------------


def verp_signature(outbox_id: int, secret_key: str | None = None) -> str:
    """8 hex characters of HMAC-SHA256(SECRET_KEY, "verp:<id>"). Hex, not `token_for`'s base64:
    mail systems may lower-case a local part, and "-" separates the id from the signature."""
    digest = base64.urlsafe_b64decode(token_for(f"verp:{outbox_id}", secret_key) + "=")
    return digest.hex()[:8]


def verp_address(outbox_id: int, settings: Settings | None = None) -> str | None:
    """The envelope sender (Return-Path) of this row's email; None when BOUNCE_ADDRESS is unset."""
    settings = settings or get_settings()
    address = parseaddr(settings.bounce_address or "")[1]
    if "@" not in address:
        return None
    local, domain = address.rsplit("@", 1)
    return f"{local}+{outbox_id}-{verp_signature(outbox_id, settings.secret_key)}@{domain}"


@dataclass(frozen=True)
class VerpRef:
    outbox_id: int
    valid: bool  # its signature is ours


_VERP = re.compile(r"\+(\d{1,18})-([0-9a-f]{8})@", re.IGNORECASE)


def parse_verp(address: str) -> VerpRef | None:
    """The outbox row a VERP address names, None if `address` is not one."""
    m = _VERP.search(address)
    if m is None:
        return None
    outbox_id = int(m[1])
    return VerpRef(outbox_id, hmac.compare_digest(m[2].lower(), verp_signature(outbox_id)))


# --- DSN -----------------------------------------------------------------------------------------


class NotADsn(SpibotError, ValueError):
    """The message is not a delivery status notification we can read."""


@dataclass(frozen=True)
class Dsn:
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # RFC 3463, e.g. 5.1.1 ("" if absent)
    recipient: str  # Final-Recipient (else Original-Recipient), "" if absent
    diagnostic: str  # Diagnostic-Code, e.g. "smtp; 550 5.1.1 <a@b>: user unknown"
    message_id: str  # Message-ID of the returned message, "" if not returned
    original_to: str  # its To header
    addresses: tuple[str, ...]  # where the bounce went (To, Delivered-To ...), the original's Return-Path

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and self.status.startswith("5.")

    @property
    def smtp_code(self) -> str | None:
        """The remote server's reply code (550, 552 ...) when the diagnostic gives one."""
        m = re.match(r"\s*smtp\s*;\s*([245]\d\d)\b", self.diagnostic, re.IGNORECASE)
        return m[1] if m else None


_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_RETURNED_TYPES = ("message/rfc822", "text/rfc822-headers", "message/global",
                   "message/global-headers")
_DELIVERED_TO = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a delivery-status part: per message first, then per recipient."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = part.get_payload(decode=True)
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(payload)
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [HeaderParser().parsestr(chunk) for chunk in chunks if chunk.strip()]


def _returned_headers(part: Message | None) -> Message | None:
    if part is None:
        return None
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload[0] if payload and isinstance(payload[0], Message) else None
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    return HeaderParser().parsestr(text, headersonly=True)


def _address(field: str) -> str:
    """`rfc822; a@b.c` -> `a@b.c`."""
    return field.split(";", 1)[-1].strip().strip("<>").strip()


def parse_dsn(raw: bytes) -> Dsn:
    """Read one bounce; raises NotADsn when it is not a multipart/report delivery-status."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/report":
        raise NotADsn(f"not a multipart/report but {msg.get_content_type()}")
    report_type = str(msg.get_param("report-type") or "").lower()
    if report_type not in ("delivery-status", "global-delivery-status"):
        raise NotADsn(f"report-type {report_type or 'missing'}")
    parts = [p for p in (msg.get_payload() or []) if isinstance(p, Message)]
    status_part = next((p for p in parts if p.get_content_type() in _STATUS_TYPES), None)
    if status_part is None:
        raise NotADsn("no delivery-status part")
    recipients = [b for b in _blocks(status_part)[1:] if b.get("Action") or b.get("Status")]
    if not recipients:
        raise NotADsn("no per-recipient fields")
    actions = [str(b.get("Action", "")).split("(")[0].strip().lower() for b in recipients]
    i = actions.index("failed") if "failed" in actions else 0  # one recipient per message: ours
    chosen = recipients[i]
    status = _STATUS.search(str(chosen.get("Status", "")))
    original = _returned_headers(next((p for p in parts if p.get_content_type() in _RETURNED_TYPES), None))
    addresses = [a for _, a in getaddresses([str(v) for name in _DELIVERED_TO for v in msg.get_all(name, [])])]
    if original is not None and original.get("Return-Path"):
        addresses.append(_address(str(original["Return-Path"])))
    return Dsn(
        action=actions[i],
        status=status[1] if status else "",
        recipient=_address(str(chosen.get("Final-Recipient") or chosen.get("Original-Recipient") or "")),
        diagnostic=" ".join(str(chosen.get("Diagnostic-Code", "")).split()),
        message_id=str(original.get("Message-ID", "")).strip() if original is not None else "",
        original_to=parseaddr(str(original.get("To", "")))[1] if original is not None else "",
        addresses=tuple(a for a in addresses if a),
    )


# --- matching a bounce to its outbox row ----------------------------------------------------------

_MESSAGE_ID = re.compile(r"<spi\.(\d{1,18})\.[0-9a-f]{16}@[^>]*>")


def _row_for(session: Session, dsn: Dsn) -> Outbox | Outcome:
    refs = [ref for ref in map(parse_verp, dsn.addresses) if ref is not None]
    if refs:  # VERP: trusted when signed, and then only that way
        outbox_id = next((ref.outbox_id for ref in refs if ref.valid), None)
        if outbox_id is None:
            log.warning("bounce with a forged VERP signature (outbox row %s): ignored", refs[0].outbox_id)
            return Outcome.forged
        row = session.get(Outbox, outbox_id)
        return row if row is not None and row.channel == "email" else Outcome.not_ours
    # No VERP (BOUNCE_ADDRESS unset when it was sent): our Message-ID is not secret, so the
    # bounce must also name the row's address, as the failed recipient or the original's To.
    m = _MESSAGE_ID.fullmatch(dsn.message_id)
    if m is None:
        return Outcome.not_ours
    row = session.get(Outbox, int(m[1]))
    if row is None or row.id is None or row.channel != "email":
        return Outcome.not_ours
    ours = content.message_id(row.id, row.key).split("@")[0]  # the From domain may have changed
    named = {dsn.recipient.lower(), dsn.original_to.lower()}
    if ours != dsn.message_id.split("@")[0] or row.to_address.lower() not in named:
        return Outcome.not_ours
    return row


def apply_bounce(session: Session, dsn: Dsn) -> Outcome:
    """Fail the row of a permanent bounce (address unreachable, WhatsApp fallback)."""
    if not dsn.permanent:
        return Outcome.transient
    row = _row_for(session, dsn)
    if isinstance(row, Outcome):
        return row
    assert row.id is not None
    failed = outbox.mark_failed(
        session, row.id, None, code=dsn.smtp_code or dsn.status, error_class="permanent",
        message=f"bounced ({dsn.status}): {dsn.diagnostic}", unreachable=True)
    if not failed:
        return Outcome.skipped
    log.info("bounce %s for outbox row %s (%s): address unreachable", dsn.status, row.id,
             mask_email(row.to_address))
    return Outcome.failed


def handle_bounce(raw: bytes, ref: str = "") -> Outcome:
    """One message of the bounce mailbox, in its own transaction."""
    try:
        dsn = parse_dsn(raw)
    except Exception as exc:  # noqa: BLE001 - whatever arrives, the poll goes on
        _log_unparsed(raw, ref, exc)
        return Outcome.unparsed
    try:
        with session_scope(write=True) as session:
            return apply_bounce(session, dsn)
    except Exception:  # noqa: BLE001 - a database hiccup: left unseen, tried again next poll
        log.exception("could not apply bounce %s", ref)
        return Outcome.error


def _log_unparsed(raw: bytes, ref: str, exc: Exception) -> None:
    try:
        head = HeaderParser().parsestr(raw[:20000].decode("utf-8", "replace"), headersonly=True)
        about = f"from {head.get('From', '?')}, subject {head.get('Subject', '?')!r}"
    except Exception:  # noqa: BLE001
        about = "headers unreadable"
    log.warning("%s", mask_text(f"unparsed message {ref} in the bounce mailbox ({exc}): {about}"))


# --- the mailbox ---------------------------------------------------------------------------------


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextmanager
def _mailbox(settings: Settings) -> Iterator[imaplib.IMAP4]:
    host, port = settings.bounce_imap_host or "", settings.bounce_imap_port
    if settings.bounce_imap_tls:
        imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, timeout=IMAP_TIMEOUT)
    else:
        imap = imaplib.IMAP4(host, port, timeout=IMAP_TIMEOUT)
    try:
        imap.login(settings.bounce_imap_user or "", settings.bounce_imap_password or "")
        typ, data = imap.select(_quoted(settings.bounce_imap_folder))
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot open {settings.bounce_imap_folder}: {data!r}")
        yield imap
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def _unseen(imap: imaplib.IMAP4) -> list[bytes]:
    typ, data = imap.uid("SEARCH", "UNSEEN")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"SEARCH failed: {data!r}")
    return (data[0] or b"").split()[:BATCH] if data else []


def _fetch(imap: imaplib.IMAP4, uid: bytes) -> bytes | None:
    typ, data = imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")  # PEEK: \Seen only once it is handled
    if typ != "OK":
        raise imaplib.IMAP4.error(f"FETCH failed: {data!r}")
    return next((item[1] for item in data if isinstance(item, tuple) and len(item) == 2), None)


def _process(imap: imaplib.IMAP4, uid: bytes) -> Outcome | None:
    raw = _fetch(imap, uid)
    if raw is None:  # gone since the search
        return None
    outcome = handle_bounce(raw, ref=f"uid {uid.decode()}")
    if outcome is not Outcome.error:
        flags = r"(\Seen \Deleted)" if outcome in DELETED else r"(\Seen)"
        imap.uid("STORE", uid.decode(), "+FLAGS", flags)
    return outcome


def poll_bounces() -> dict[str, int]:
    """Scheduler job: read the bounce mailbox once (nothing to do unless BOUNCE_IMAP_HOST is set).
    Returns how many messages had each outcome, plus `imap_error` when the mailbox failed."""
    settings = get_settings()
    if not settings.bounce_imap_host:
        return {}
    counts = {str(o): 0 for o in Outcome}
    try:
        with _mailbox(settings) as imap:
            for uid in _unseen(imap):
                outcome = _process(imap, uid)
                if outcome is not None:
                    counts[outcome] += 1
            if any(counts[o] for o in DELETED):
                imap.expunge()
    except (imaplib.IMAP4.error, OSError) as exc:
        log.warning("cannot read the bounce mailbox %s:%s: %s", settings.bounce_imap_host,
                    settings.bounce_imap_port, exc)
        counts["imap_error"] = 1
    if any(counts.values()):
        log.info("bounces: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return counts
