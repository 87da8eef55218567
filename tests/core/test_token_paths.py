"""One link-token scheme: every path that makes a link token (`core.tokens.token_for`, a sample
draw's `token_pairs`, a walk-in registration in `qr.writer`) gives the same token for the same
nonce, the standard library's HMAC-SHA256 of it, base64url without padding."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from sqlmodel import Session, select

from core import tokens
from core.clock import utcnow
from core.config import get_settings
from core.models import Assignment
from core.tokens import hash_token, new_token_pair, token_for
from population.drawing import token_pairs
from qr import writer
from qr.validation import VisitorForm
from tests.qr.conftest import build_world

NONCE_BYTES = bytes(range(16))
NONCE = NONCE_BYTES.hex()


def reference(nonce: str, secret_key: str | None = None) -> str:
    key = (secret_key or get_settings().secret_key).encode()
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def fixed_nonce(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every nonce core.tokens draws is NONCE."""
    monkeypatch.setattr(tokens, "urandom", lambda n: (NONCE_BYTES * (n // 16 + 1))[:n])
    return NONCE


@pytest.mark.parametrize("secret", [None, "k", "x" * 64, "ü" * 80])
def test_token_for_and_the_draw_give_the_same_token(fixed_nonce: str, secret: str | None) -> None:
    expected = reference(fixed_nonce, secret)
    assert token_for(fixed_nonce, secret) == expected
    assert list(token_pairs(3, secret)) == [(fixed_nonce, hash_token(expected))] * 3
    if secret is None:
        assert new_token_pair() == (fixed_nonce, hash_token(expected))


def test_a_registration_gets_the_same_token(session: Session, fixed_nonce: str) -> None:
    world = build_world(session)
    assert world.campaign.id is not None
    outcomes: list[object] = []
    form = VisitorForm(name="Siti Rahmawati", phone="+6281234567801", email=None,
                       service="Pembuatan KTP", service_date=utcnow().date())
    writer.write_batch([writer.Job(get_settings().database_url, world.campaign.id, world.unit, "L1",
                                   form, outcomes.append)])
    [saved] = outcomes
    expected = reference(fixed_nonce)
    assert isinstance(saved, writer.Saved) and saved.path == f"/s/{expected}"
    assignment = session.exec(select(Assignment).where(Assignment.campaign_id == world.campaign.id)).one()
    assert assignment.token_nonce == fixed_nonce and assignment.token_hash == hash_token(expected)
    assert token_for(assignment.token_nonce) == expected
