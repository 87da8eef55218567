"""Every figure has one source (issue #20): on the demo, after its invitations went out through the
sandbox, some respondents answered, the bot answered a few people ("Isi Survei" replies are outbox
rows of the campaign too) and one respondent was replaced (an inactive assignment with a sent
invitation, as calling a reserve leaves it), the sampled, sent and answered counts are the same on
the overview (funnel and groups), the units page, the sample page's targets, the national (admin)
view through its snapshot, and in their .csv and .xlsx exports. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, col, select

from core.clock import utcnow
from core.config import reset_settings
from core.models import Assignment, Campaign, Institution
from dispatch import Outbox
from monitor import pages
from monitor.snapshot import refresh_snapshots
from tests.monitor.conftest import login


@pytest.fixture
def demo(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, int]]:
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    reset_settings()
    from app.demo import load_demo
    from core.db import session_scope
    from dispatch.worker import run_until_idle
    from web import create_app

    load_demo(tmp_path)
    run_until_idle(timeout=60)
    with session_scope(write=True) as session:
        sent = session.exec(select(Assignment).join(Outbox, col(Outbox.assignment_id) == Assignment.id)
                            .where(col(Outbox.status).in_(("sent", "delivered", "read")))
                            .order_by(col(Assignment.id))).all()
        assert len(sent) > 12
        for a in sent[:9]:  # answered
            a.responded_at = utcnow()
            session.add(a)
        sent[9].active = False  # replaced by a reserve (its invitation stays in the outbox)
        sent[10].active, sent[10].responded_at = False, utcnow()  # replaced, yet its answer came
        session.add_all([sent[9], sent[10]])
        people = [a.person_id for a in sent[11:13]]
        campaign_id = sent[0].campaign_id
    password = (tmp_path / "pic-password.txt").read_text().strip()
    with TestClient(create_app(), base_url="https://testserver") as client:
        for person_id in people:  # the bot's replies: outbox rows of the campaign, not invitations
            for text in ("Isi Survei", "apa itu SPI?"):
                assert client.post(f"/sandbox/whatsapp/{person_id}", data={"text": text}).status_code == 200
        run_until_idle(timeout=60)
        assert login(client, "pic", password).status_code == 303
        yield client, campaign_id


def export(client: TestClient, campaign_id: int, page: str, table: str) -> tuple[list[list[str]], list[list[Any]]]:
    """(csv rows, xlsx rows) of one table's exports, header first."""
    got = client.get(f"/pic/c/{campaign_id}/{page}/export/{table}.csv")
    assert got.status_code == 200, (page, table)
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    book = load_workbook(io.BytesIO(client.get(f"/pic/c/{campaign_id}/{page}/export/{table}.xlsx").content))
    return rows, [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]


def column(rows: list[list[Any]], name: str) -> list[int]:
    at = list(rows[0]).index(name)
    return [int(r[at]) for r in rows[1:] if r[at] not in (None, "", "-")]


def test_sampled_sent_and_answered_agree_everywhere(demo: tuple[TestClient, int], session: Session) -> None:
    client, campaign_id = demo
    session.rollback()
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    inst = session.get(Institution, campaign.institution_id)
    assert inst is not None
    # the truth, counted here from the tables: active assignments, those with an invitation sent
    active = session.exec(select(Assignment).where(Assignment.campaign_id == campaign_id,
                                                   col(Assignment.active).is_(True))).all()
    sampled = len(active)
    answered = sum(1 for a in active if a.responded_at is not None)
    ids = {a.id for a in active}
    sent = len({o.assignment_id for o in session.exec(select(Outbox).where(
        Outbox.campaign_id == campaign_id, col(Outbox.status).in_(("sent", "delivered", "read")))).all()
        if o.assignment_id in ids})
    assert sampled and sent and answered == 9

    # ringkasan: the funnel's total row, page and exports
    csv_rows, xlsx_rows = export(client, campaign_id, "ringkasan", "corong")
    total = next(r for r in csv_rows if r[0] == "Semua saluran")
    header = csv_rows[0]
    assert [int(total[header.index(k)]) for k in ("Sampel", "Terkirim", "Menjawab")] == [sampled, sent, answered]
    assert [str(v) for v in next(r for r in xlsx_rows if r[0] == "Semua saluran")] == total
    page = client.get(f"/pic/c/{campaign_id}/ringkasan").text
    assert f">{sampled}<" in page and f">{sent}<" in page

    # ringkasan: per group, the samples and answers add up to the same totals
    groups, groups_xlsx = export(client, campaign_id, "ringkasan", "kelompok")
    assert sum(column(groups, "Sampel")) == sampled and sum(column(groups, "Menjawab")) == answered
    assert sum(column(groups_xlsx, "Sampel")) == sampled
    targets = dict(zip([r[0] for r in groups[1:]], column(groups, "Target"), strict=True))

    # unit: every group's table
    data = pages.units(session, campaign, inst)
    unit_sample = unit_answered = 0
    for table in data.tables:
        rows, rows_xlsx = export(client, campaign_id, "unit", table.name)
        unit_sample += sum(column(rows, "Sampel"))
        unit_answered += sum(column(rows, "Menjawab"))
        assert sum(column(rows_xlsx, "Sampel")) == sum(column(rows, "Sampel"))
    assert (unit_sample, unit_answered) == (sampled, answered)

    # sampel: the targets the overview measures against are the draw's targets
    sizes, _ = export(client, campaign_id, "sampel", "ukuran")
    draw_targets = dict(zip([r[0] for r in sizes[1:]], column(sizes, "Target"), strict=True))
    assert sum(targets.values()) == sum(draw_targets.values())

    # national (admin): the snapshot
    refresh_snapshots()
    session.rollback()
    national = pages.national(session).table("nasional")
    assert national is not None
    row = next(r for r in national.rows if r[0] == inst.name)
    assert [row[2], row[3], row[6]] == [sampled, sent, answered]
