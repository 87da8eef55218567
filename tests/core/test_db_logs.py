"""Issue #21: a database error's message, and so any traceback a server logs, never carries the
statement's bound values (names, numbers, emails, answers): engines hide them."""

from __future__ import annotations

import logging
import traceback

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError

from core.db import session_scope

SECRET_VALUE = "+6281299988877 budi.rahasia@contoh.go.id"


def test_a_forced_db_error_logs_no_parameter_value(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("spibot.test")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # even with SQL logging on
        try:
            with pytest.raises((DBAPIError, StatementError)) as raised:
                with session_scope(write=True) as session:
                    session.execute(text("INSERT INTO tabel_yang_tidak_ada (nomor) VALUES (:nomor)"),
                                    {"nomor": SECRET_VALUE})
            log.exception("request failed", exc_info=raised.value)
        finally:
            logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    message = str(raised.value)
    assert "tabel_yang_tidak_ada" in message  # the statement is still there to debug with ...
    assert "hidden" in message  # ... its values are not
    logged = caplog.text + "".join(traceback.format_exception(raised.value))
    assert "request failed" in caplog.text
    assert "+6281299988877" not in logged and "budi.rahasia" not in logged
