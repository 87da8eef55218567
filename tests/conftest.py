"""Test-wide setup: the network guard, a test environment, shared fixtures (as plugins)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import netguard

# Before anything imports settings: a test environment that never touches real services.
os.environ.update(
    {
        "ENV": "test",
        "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
        "PUBLIC_BASE_URL": "https://spi.test.example",
        "WHATSAPP_BACKEND": "sandbox",
        "EMAIL_BACKEND": "sandbox",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN": "test-auth-token",
        "REDIS_URL": "",  # per-process rate windows; tests of the Redis window opt in
    }
)
os.environ.pop("TWILIO_EDGE", None)
os.environ.pop("TWILIO_REGION", None)
netguard.install()

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.twilio",
    "tests.fixtures.smtp",
    "tests.fixtures.browser",
    "tests.fixtures.server",
    "tests.fixtures.redis",
    "tests.fixtures.imap",
]


@pytest.fixture(autouse=True)
def _fresh_rate_window() -> Iterator[None]:
    """Each test starts with an empty per-IP window (its 404s and registrations are its own)."""
    from core.ratewindow import reset_rate_window  # after the environment above is set
    from monitor.sending import clear_plan_cache

    reset_rate_window()
    clear_plan_cache()  # the dashboard's send plan is cached for 30 s per database URL
    yield
    reset_rate_window()
