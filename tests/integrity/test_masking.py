"""Phones, emails and personal link tokens never reach a log line in clear."""

from __future__ import annotations

import logging

from core.masking import MaskingFilter, mask_text


def test_log_lines_are_masked(caplog) -> None:  # type: ignore[no-untyped-def]
    logger = logging.getLogger("spibot.test.masking")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("send to %s <%s> via %s", "+62 812-3456-7890", "budi.santoso@contoh.go.id",
                       "https://spi.test/s/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-ab")
    finally:
        logger.removeHandler(handler)
    line = seen[0]
    assert "3456" not in line and "budi.santoso" not in line and "AbCdEfGh" not in line
    assert "b***@contoh.go.id" in line and "/s/***" in line


def test_mask_text_leaves_ordinary_text() -> None:
    assert mask_text("campaign 12 closed, 386 responses") == "campaign 12 closed, 386 responses"
