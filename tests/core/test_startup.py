"""What a web process does at start: parse the data files, and under `spibot serve` freeze the
start-up objects out of the garbage collector's reach and lower the thread switch interval
(neither in tests)."""

from __future__ import annotations

import gc

import pytest
from fastapi.testclient import TestClient


def test_a_web_process_parses_the_questionnaires_at_start(db_url: str) -> None:
    from responses.questionnaire import GROUPS, load_questionnaire
    from web import create_app

    load_questionnaire.cache_clear()
    app = create_app()
    assert load_questionnaire.cache_info().currsize == 0
    with TestClient(app):
        assert load_questionnaire.cache_info().currsize == len(GROUPS)


def test_serve_freezes_the_start_up_objects_and_tests_do_not(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.tuning import FREEZE_GC_ENV
    from web import create_app

    gc.unfreeze()
    monkeypatch.delenv(FREEZE_GC_ENV, raising=False)
    with TestClient(create_app()):
        assert gc.get_freeze_count() == 0
    monkeypatch.setenv(FREEZE_GC_ENV, "1")
    try:
        with TestClient(create_app()):
            assert gc.get_freeze_count() > 10_000  # modules, the app, its routes
    finally:
        gc.unfreeze()


def test_serve_lowers_the_thread_switch_interval_and_tests_do_not(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under `spibot serve` a thread back from a database call (the registration writer) waits
    at most 0.5 ms for the GIL, not 5 ms; set when the web process starts, not by a package."""
    import sys

    from app.tuning import FREEZE_GC_ENV, SWITCH_INTERVAL
    from web import create_app

    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        monkeypatch.delenv(FREEZE_GC_ENV, raising=False)
        with TestClient(create_app()):
            assert sys.getswitchinterval() == pytest.approx(0.005)
        monkeypatch.setenv(FREEZE_GC_ENV, "1")
        with TestClient(create_app()):
            assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL) == pytest.approx(0.0005)
    finally:
        gc.unfreeze()
        sys.setswitchinterval(before)
