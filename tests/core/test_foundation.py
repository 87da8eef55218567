from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.db import get_engine, session_scope
from core.models import Assignment
from core.tokens import hash_token, token_for
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit
from tests.netguard import NetworkAccessError


def test_network_guard_refuses_off_loopback() -> None:
    with pytest.raises(NetworkAccessError):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    with pytest.raises(NetworkAccessError):
        socket.getaddrinfo("example.com", 443)


def test_token_is_long_derived_and_hashed() -> None:
    token = token_for("abc")
    assert len(token) >= 43  # 256 bits in base64url
    assert token == token_for("abc") and token != token_for("abd")
    assert hash_token(token) != token and len(hash_token(token)) == 32


def test_models_round_trip_aware_utc(session) -> None:  # type: ignore[no-untyped-def]
    inst = make_institution(session, timezone="Asia/Makassar")
    unit = make_unit(session, inst)
    person = make_person(session, unit)
    campaign = make_campaign(session, inst)
    assignment, token = make_assignment(session, campaign, person)
    session.commit()
    session.expunge_all()
    got = session.exec(select(Assignment).where(Assignment.token_hash == hash_token(token))).one()
    assert got.id == assignment.id
    fresh = session.get(type(campaign), campaign.id)
    assert fresh.opens_at.tzinfo is not None and fresh.opens_at.utcoffset().total_seconds() == 0
    assert fresh.is_open(datetime.now(UTC))


def test_sqlite_runs_in_wal_mode(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    with get_engine(db_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_write_session_commits_and_rolls_back(db_url: str) -> None:
    with pytest.raises(RuntimeError):
        with session_scope(write=True) as s:
            make_institution(s, code="ROLLBACK")
            raise RuntimeError("boom")
    with session_scope() as s:
        assert s.exec(text("SELECT count(*) FROM institution")).scalar() == 0  # type: ignore[call-overload]


def test_masking_hides_contacts_but_keeps_timestamps() -> None:
    from core.masking import mask_text

    line = "2026-11-21 19:40:17,572 sent to whatsapp:+6281334481749 / 0813-3448-1749 / budi.s@contoh.go.id"
    masked = mask_text(line)
    assert masked.startswith("2026-11-21 19:40:17,572 ")
    assert "81334481749" not in masked and "3448-1749" not in masked and "budi.s@" not in masked


def test_migrations_match_the_models(db_url: str) -> None:
    """The schema the migrations build is exactly what the models declare (else: write a migration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    from app.registry import import_all_models
    from core.references import include_object

    import_all_models()
    with get_engine(db_url).connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object(conn.dialect.name)})
        assert compare_metadata(ctx, SQLModel.metadata) == []
