"""DKIM signing of outgoing email (Gmail/Yahoo bulk-sender rules): verified with dkimpy against a
DNS answer of our own, on the bytes the SMTP server received."""

from __future__ import annotations

import base64
import math
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
import pytest
from sqlmodel import Session

from core.config import Settings, reset_settings
from dispatch.channels.smtp_email import DKIM_HEADERS, DkimSigner, SmtpEmailChannel
from dispatch.content import build_email
from dispatch.service import enqueue_invitations
from dispatch.worker import run_until_idle
from tests.dispatch.helpers import campaign_with

SELECTOR, DOMAIN = "spi2026", "example.go.id"

# --- an RSA key, made here (no `cryptography` in the project; dkimpy only reads keys) -----------

_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, math.isqrt(p) + 1, 2))]


def _probably_prime(n: int, rounds: int = 24) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int) -> int:
    while True:
        n = secrets.randbits(bits) | (3 << (bits - 2)) | 1  # top two bits: n = p*q has 2*bits
        if all(n % p for p in _SMALL_PRIMES) and _probably_prime(n):
            return n


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _der_int(v: int) -> bytes:
    return _der(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big"))


def rsa_key(bits: int = 2048) -> tuple[bytes, bytes]:
    """(PKCS#1 PEM private key, the DKIM DNS TXT record with its public key)."""
    e = 65537
    while True:
        p, q = _prime(bits // 2), _prime(bits // 2)
        if p != q and math.gcd(e, (p - 1) * (q - 1)) == 1:
            break
    n, d = p * q, pow(e, -1, (p - 1) * (q - 1))
    private = _der(0x30, b"".join(map(_der_int, (0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p)))))
    pem = (b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(private)
           + b"-----END RSA PRIVATE KEY-----\n")
    rsa_encryption = _der(0x06, bytes.fromhex("2a864886f70d010101")) + _der(0x05, b"")
    spki = _der(0x30, _der(0x30, rsa_encryption) + _der(0x03, b"\0" + _der(0x30, _der_int(n) + _der_int(e))))
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki)


@pytest.fixture(scope="module")
def key() -> tuple[bytes, bytes]:
    return rsa_key()


@pytest.fixture
def key_file(key: tuple[bytes, bytes], tmp_path: Path) -> Path:
    path = tmp_path / "dkim.pem"
    path.write_bytes(key[0])
    return path


def dns(record: bytes) -> Callable[..., bytes | None]:
    """A dnsfunc for dkim.verify: our TXT record at <selector>._domainkey.<domain>, nothing else."""
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None
    return lookup


def settings_with(key_file: Path | None, **kw: Any) -> Settings:
    values: dict[str, Any] = {"dkim_private_key_file": str(key_file) if key_file else None,
                              "dkim_selector": SELECTOR, "dkim_domain": DOMAIN, **kw}
    return Settings(**values)


def tags(signed: bytes) -> dict[str, str]:
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    field = header.split("DKIM-Signature:", 1)[1]
    field = field.split("\r\n", 1)[0] + "".join(  # unfold the continuation lines
        line for line in field.split("\r\n")[1:] if line[:1] in (" ", "\t"))
    return {k.strip(): "".join(v.split()) for k, _, v in (t.partition("=") for t in field.split(";")) if k.strip()}


def test_signature_covers_the_one_click_headers_and_verifies(key: tuple[bytes, bytes], key_file: Path) -> None:
    signer = DkimSigner.from_settings(settings_with(key_file))
    assert signer is not None
    raw = build_email(
        to="budi@mail.example", sender="SPI Kabupaten Katingan <spi@example.go.id>",
        subject="Undangan Survei Penilaian Integritas 2026 — Dinas Penanaman Modal dan PTSP Katingan",
        text="Yth. Budi", html="<p>Yth. Budi</p>", msg_id="<spi.1.0123456789abcdef@example.go.id>",
        unsubscribe="https://spi.test.example/berhenti/email/1/abc")
    assert b"\n " in raw.replace(b"\r\n", b"")  # the long Subject is folded with a bare LF
    signed = signer.sign(raw)
    assert signed.startswith(b"DKIM-Signature:")
    assert dkim.verify(signed, dnsfunc=dns(key[1]))
    t = tags(signed)
    assert t["c"] == "relaxed/relaxed" and t["a"] == "rsa-sha256"
    assert (t["d"], t["s"]) == (DOMAIN, SELECTOR)
    assert t["h"].split(":") == [h.decode() for h in DKIM_HEADERS]
    # the one-click pair is covered: changing where it points breaks the signature
    tampered = signed.replace(b"/berhenti/email/1/abc", b"/berhenti/email/2/abc")
    assert tampered != signed and not dkim.verify(tampered, dnsfunc=dns(key[1]))
    assert not dkim.verify(signed, dnsfunc=dns(rsa_key(1024)[1]))  # another key: not ours


def test_received_email_carries_a_valid_signature(session: Session, smtp_server, key, key_file, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DKIM_PRIVATE_KEY_FILE", str(key_file))
    monkeypatch.setenv("DKIM_SELECTOR", SELECTOR)
    monkeypatch.setenv("DKIM_DOMAIN", DOMAIN)
    monkeypatch.setenv("EMAIL_FROM", f"SPI <spi@{DOMAIN}>")
    monkeypatch.delenv("BOUNCE_ADDRESS", raising=False)
    reset_settings()
    received: list[bytes] = []
    recorded = smtp_server.handler.handle_DATA

    async def keep_bytes(server: Any, smtp_session: Any, envelope: Any) -> str:
        received.append(envelope.original_content or envelope.content)
        return await recorded(server, smtp_session, envelope)

    smtp_server.handler.handle_DATA = keep_bytes
    campaign, _, _, people = campaign_with(session, 2, phone=False)
    enqueue_invitations(session, campaign.id)
    session.commit()
    assert run_until_idle(timeout=20)["sent"] == 2
    assert len(received) == 2
    for raw in received:
        assert raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(raw, dnsfunc=dns(key[1]))
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    # BOUNCE_ADDRESS unset: the envelope sender is the From address, as before
    assert {mail_from for mail_from, _ in smtp_server.handler.envelopes} == {f"spi@{DOMAIN}"}


def test_dkim_settings_go_together(key_file: Path, tmp_path: Path) -> None:
    assert DkimSigner.from_settings(Settings(dkim_private_key_file="", dkim_selector="", dkim_domain="")) is None
    with pytest.raises(ValueError, match="go together"):
        SmtpEmailChannel(settings_with(None))
    with pytest.raises(ValueError, match="not a readable RSA key"):
        SmtpEmailChannel(settings_with(tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="not a readable RSA key"):
        SmtpEmailChannel(settings_with(tmp_path / "junk.pem"))
