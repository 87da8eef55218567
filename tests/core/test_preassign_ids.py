"""preassign_ids: new rows get their ids from the sequences before the flush (PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from core.audit import AuditLog, record
from core.db import is_sqlite, preassign_ids
from core.models import Institution
from tests.factories import make_institution


def test_new_rows_get_sequence_ids_and_flush_as_before(session: Session) -> None:
    existing = make_institution(session)
    session.commit()
    entries = [record(session, "tester", "probe", target=f"row:{i}", details={"i": i}) for i in range(5)]
    kept = Institution(id=900_001, code="TETAP", name="Id sudah ada")
    session.add(kept)
    preassign_ids(session, [*session.new, existing])
    ids = [e.id for e in entries]
    if is_sqlite(session):
        assert ids == [None] * 5  # SQLite numbers rows at the insert
    else:
        assert None not in ids and len(set(ids)) == 5
    assert kept.id == 900_001
    session.commit()
    stored = session.execute(select(AuditLog.id, AuditLog.target).where(AuditLog.action == "probe")
                             .order_by(AuditLog.id)).all()
    assert [target for _, target in stored] == [f"row:{i}" for i in range(5)]
    assert [e.id for e in entries] == [i for i, _ in stored]
    # The sequence moved past them: the next ordinary insert does not collide.
    record(session, "tester", "probe", target="after")
    session.commit()
    assert session.scalar(select(AuditLog.id).where(AuditLog.target == "after")) > max(e.id for e in entries)  # type: ignore[operator]
