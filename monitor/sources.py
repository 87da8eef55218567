"""Integration points: what the dashboard reads from other packages.

Each helper returns None when the other package does not (yet) provide the function or table, and
the page then says "belum tersedia" rather than showing invented figures. Only the *import* is
guarded: an error inside another package's function is a real error and propagates.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

# Outbox columns the dashboard relies on (DESIGN.md, dispatch brief).
OUTBOX_COLUMNS = ("assignment_id", "campaign_id", "unit_id", "institution_id", "channel", "status")


def _function(module: str, name: str) -> Callable[..., Any] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    fn = getattr(mod, name, None)
    return fn if callable(fn) else None


def outbox_model() -> Any | None:
    """The dispatch Outbox table class, or None while dispatch does not define it."""
    try:
        from dispatch import models
    except ImportError:
        return None
    model = getattr(models, "Outbox", None)
    if model is None or not all(hasattr(model, c) for c in OUTBOX_COLUMNS):
        return None
    return model


def outbox_column(model: Any, *names: str) -> Any | None:
    """The first of `names` the Outbox has (column names differ slightly between versions)."""
    for name in names:
        if hasattr(model, name):
            return getattr(model, name)
    return None


def enqueue_reminder(session: Session, campaign_id: int, unit_id: int | None, actor: str) -> int | None:
    """Reminders to a unit's non-responders through the dispatcher's rules; None if unavailable."""
    fn = _function("dispatch.service", "enqueue_reminder")
    if fn is None:
        return None
    return int(fn(session, campaign_id, unit_id=unit_id, actor=actor))


def bot_activity(session: Session, institution_id: int, campaign_id: int | None) -> dict[str, Any] | None:
    fn = _function("bot.stats", "activity")
    return None if fn is None else fn(session, institution_id, campaign_id)


def conversation_log(session: Session, institution_id: int, limit: int, offset: int) -> list[Any] | None:
    fn = _function("bot.stats", "conversation_log")
    return None if fn is None else list(fn(session, institution_id, limit, offset))


def qr_registrations(session: Session, institution_id: int, campaign_id: int | None) -> list[Any] | None:
    fn = _function("qr.stats", "registrations")
    return None if fn is None else list(fn(session, institution_id, campaign_id))


def sample_draw(session: Session, campaign_id: int, institution_id: int) -> Any | None:
    """The campaign's current sample draw (population.drawreport), None before the first draw."""
    fn = _function("population.drawreport", "draw_summary")
    return fn(session, campaign_id, institution_id) if fn else None


def replace_with_reserve(session: Session, campaign: Any, unit_code: str, group: str,
                         actor: str) -> tuple[Any, int] | None:
    """Call up a unit's next reserve (population.sampling); None if that module is absent."""
    fn = _function("population.sampling", "replace_with_reserve")
    return fn(session, campaign, unit_code, group, actor) if fn else None


def quality_report(session: Session, institution_id: int) -> Any | None:
    fn = _function("population.quality", "quality_report")
    return None if fn is None else fn(session, institution_id)


def quality_reason_texts() -> dict[str, str]:
    fn = _function("population.quality", "reason_texts")
    return dict(fn()) if fn is not None else {}


def quality_xlsx(report: Any, path: Any) -> bool:
    fn = _function("population.quality", "write_xlsx")
    if fn is None:
        return False
    fn(report, path)
    return True


def score_report(session: Session, campaign_id: int) -> Any | None:
    fn = _function("responses.reports", "build_report")
    return None if fn is None else fn(session, campaign_id)


def score_renderer(kind: str) -> Callable[..., Any] | None:
    """responses.reports.render_html / write_pdf / write_xlsx."""
    return _function("responses.reports", kind)


def posters_pdf(session: Session, campaign: Any) -> bytes | None:
    """Every poster of a campaign as one vector PDF (qr package), or None if unavailable."""
    specs = _function("qr.posters", "campaign_specs")
    page_for = _function("qr.layout", "page_for")
    pdf_bytes = _function("qr.render", "pdf_bytes")
    if specs is None or page_for is None or pdf_bytes is None:
        return None
    found = specs(session, campaign, None)
    return bytes(pdf_bytes((page_for(spec, "a4") for spec in found), title="Poster SPI"))


def posters_available() -> bool:
    return _function("qr.posters", "campaign_specs") is not None
