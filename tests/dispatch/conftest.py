"""Dispatch tests: quiet hours off unless a test turns them on (tests run at any hour), rates
uncapped unless a test caps them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import reset_settings


@pytest.fixture(autouse=True)
def _dispatch_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    monkeypatch.setenv("WHATSAPP_RATE_PER_SENDER", "0")
    monkeypatch.setenv("EMAIL_RATE_PER_SERVER", "0")
    reset_settings()
    yield
    reset_settings()
