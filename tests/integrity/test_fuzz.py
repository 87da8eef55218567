"""Fuzzing with a fixed budget: the public endpoints against the app's OpenAPI (schemathesis) and
the parsers of untrusted text (hypothesis). No 5xx, no crash.

Public endpoints: webhooks (/twilio/...), the questionnaire (/s/...), registration (/daftar/...),
the guest book (/bukutamu/...), QR images (/qr/...) and the response import webhook. Each
operation gets FUZZ_EXAMPLES generated requests (derandomized, so CI runs are repeatable).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import reset_settings
from core.db import get_engine
from web import create_app

FUZZ_EXAMPLES = 15
PUBLIC = r"^/(twilio|s|daftar|bukutamu|qr|api/responses)(/|$)"

schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app()).include(path_regex=PUBLIC)


@pytest.fixture
def fuzz_db(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite database with one institution and unit the codes can hit."""
    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    reset_settings()
    from sqlmodel import Session

    from tests.factories import make_institution, make_unit

    with Session(get_engine(url)) as s:
        make_unit(s, make_institution(s, code="KAB001"), code="DPMPTSP")
        s.commit()
    yield url
    reset_settings()
    get_engine(url).dispose()


def test_public_operations_are_fuzzed() -> None:
    """The fuzzing below must not silently test nothing."""
    paths = {op.path for op in (r.ok() for r in schema.get_all_operations())}
    assert any(p.startswith("/daftar") for p in paths), paths


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_public_endpoints_never_5xx(case: schemathesis.Case, fuzz_db: str) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                        response.text[:300])
    assert response.headers.get("x-content-type-options") == ["nosniff"]


TEXT = st.one_of(st.text(max_size=200), st.from_regex(r"[+0-9 ()\-./]{0,30}", fullmatch=True))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(TEXT)
def test_phone_and_email_parsers_never_crash(value: str) -> None:
    from population.normalize import normalize_email, normalize_phone

    phone = normalize_phone(value)
    assert phone is None or (phone.startswith("+62") and phone[1:].isdigit())
    assert normalize_email(value) is None or "@" in (normalize_email(value) or "")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(TEXT, st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.none(),
                 st.dates()))
def test_date_parser_never_crashes(value: object) -> None:
    from population.normalize import parse_date

    result = parse_date(value)
    assert result is None or isinstance(result, date)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.text(max_size=40), st.none(), st.integers(), st.floats()), max_size=12),
       st.integers(0, 10**6))
def test_header_matching_never_crashes(cells: list[object], row: int) -> None:
    from population.reader import match_header

    match_header(cells, row)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.text(max_size=500))
def test_bot_intent_matching_never_crashes(text: str) -> None:
    from bot.intents import intent_of, match, parse_choice

    match(text)
    assert isinstance(intent_of(text), str)
    choice = parse_choice(text)
    assert choice is None or isinstance(choice, int)


@pytest.mark.parametrize("text", ["Isi Survei", "isi  survei!", "ISI SURVEI"])
def test_bot_fuzz_baseline_real_phrasings(text: str) -> None:
    """The fuzz target is the real matcher: known phrasings are recognised."""
    from bot.intents import intent_of

    assert intent_of(text) != intent_of("qwertyuiop zxcv")
