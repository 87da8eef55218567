"""The action plan followed through (issue 24): the .xlsx form round trip, evidence limits and
storage, the quarterly reminder, and evidence served only to its institution (both backends)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, col, select

from actionplan import (
    ActionEvidence,
    ActionItem,
    PlanError,
    generate,
    items,
    progress,
    read_form,
    remind_owners,
    save_evidence,
    seed,
    settings,
    write_form,
)
from actionplan.evidence import folder, sniff
from core.config import reset_settings
from core.datafiles import read_yaml
from core.models import Campaign, Unit
from dispatch import Outbox
from responses import DATA_DIR
from tests.factories import make_campaign, make_institution, make_unit

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def data_dir(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    yield tmp_path / "data"
    reset_settings()


def _rows() -> list[Any]:
    return [SimpleNamespace(level=level, group=group, dimension=dim, variable=var, levels=f"risiko: {level}",
                            recommendation=f"Rekomendasi {dim}", mcp_area="Pengadaan Barang dan Jasa",
                            timing="3-6 bulan")
            for level, group, dim, var in [("Tinggi", "internal", "Pengelolaan Pengadaan", "Pengadaan diatur"),
                                           ("Sedang", "external", "Transparansi Layanan", "Biaya tidak resmi"),
                                           ("Rendah", "expert", "Pengelolaan SDM", "Promosi")]]


def _plan(session: Session) -> tuple[Campaign, list[Unit]]:
    inst = make_institution(session)
    units = [make_unit(session, inst, name="Dinas Kesehatan", contact_email="dinkes@contoh.go.id"),
             make_unit(session, inst, name="Bagian Pengadaan Barang dan Jasa")]
    campaign = make_campaign(session, inst)
    assert seed(session, campaign, _rows(), "pic") == 3
    assert seed(session, campaign, _rows(), "pic") == 0  # a plan is made once
    return campaign, units


def _snapshot(plan: list[ActionItem]) -> list[tuple[Any, ...]]:
    return [(i.id, i.level, i.group, i.dimension, i.variable, i.recommendation, i.action, i.mcp_area,
             i.success_criteria, i.success_measure, i.owner_unit_id, i.timing, i.due_date, i.status) for i in plan]


def test_the_plan_round_trips_through_the_xlsx_form(session: Session) -> None:
    """Proves export -> edit a cell -> import gives the same plan plus the edit: an unchanged
    form changes nothing, the edited action text, owner (by unit name), due date and status land
    on the right action and nothing else moves."""
    campaign, units = _plan(session)
    first = items(session, campaign.id)  # type: ignore[arg-type]
    first[0].owner_unit_id = units[0].id
    first[0].due_date = date(2025, 3, 31)
    session.flush()
    before = _snapshot(items(session, campaign.id))  # type: ignore[arg-type]

    buffer = io.BytesIO()
    write_form(session, campaign, buffer)
    assert read_form(session, campaign, io.BytesIO(buffer.getvalue()), "pic") == 0  # unchanged
    assert _snapshot(items(session, campaign.id)) == before  # type: ignore[arg-type]

    wb = load_workbook(io.BytesIO(buffer.getvalue()))
    ws = wb[settings()["form_sheet"]]
    header = [c.value for c in ws[1]]
    columns = settings()["form_columns"]
    assert header == list(columns.values())
    row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == first[1].id)
    row[header.index(columns["action"])].value = "Pasang standar layanan di semua loket"
    row[header.index(columns["owner"])].value = "Bagian Pengadaan Barang dan Jasa"
    row[header.index(columns["due_date"])].value = "30/06/2025"
    row[header.index(columns["status"])].value = "Sedang berjalan"
    edited = io.BytesIO()
    wb.save(edited)

    assert read_form(session, campaign, io.BytesIO(edited.getvalue()), "pic") == 1
    after = _snapshot(items(session, campaign.id))  # type: ignore[arg-type]
    expected = list(before)
    i = [x[0] for x in before].index(first[1].id)
    expected[i] = (*before[i][:6], "Pasang standar layanan di semua loket", *before[i][7:10], units[1].id,
                   before[i][11], date(2025, 6, 30), "berjalan")
    assert after == expected


def test_a_bad_form_is_refused_whole(session: Session) -> None:
    """Proves all-or-nothing: one row naming an unknown unit and one an unknown ID refuse the
    file with both row numbers, and the valid edit of another row is not applied."""
    campaign, _ = _plan(session)
    before = _snapshot(items(session, campaign.id))  # type: ignore[arg-type]
    buffer = io.BytesIO()
    write_form(session, campaign, buffer)
    wb = load_workbook(io.BytesIO(buffer.getvalue()))
    ws = wb[settings()["form_sheet"]]
    header = [c.value for c in ws[1]]
    columns = settings()["form_columns"]
    ws.cell(2, header.index(columns["action"]) + 1, "Aksi yang sah")
    ws.cell(3, header.index(columns["owner"]) + 1, "Dinas Yang Tidak Ada")
    ws.cell(4, header.index(columns["id"]) + 1, 999_999)
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(PlanError) as refused:
        read_form(session, campaign, io.BytesIO(out.getvalue()), "pic")
    assert "baris 3" in str(refused.value) and "baris 4" in str(refused.value)
    assert _snapshot(items(session, campaign.id)) == before  # type: ignore[arg-type]


def test_progress_counts_statuses_and_overdue(session: Session) -> None:
    """Proves the progress view: counts per status and overdue = due date passed and not finished."""
    campaign, _ = _plan(session)
    a, b, c = items(session, campaign.id)  # type: ignore[arg-type]
    a.due_date, a.status = date(2020, 1, 1), "berjalan"  # overdue
    b.due_date, b.status = date(2020, 1, 1), "selesai"  # finished: not overdue
    c.due_date = date(2999, 1, 1)
    session.flush()
    p = progress(session, campaign, now=datetime(2025, 1, 1, tzinfo=UTC))
    assert p.total == 3 and p.by_status == {"Belum dimulai": 1, "Sedang berjalan": 1, "Selesai": 1, "Dibatalkan": 0}
    assert [i.id for i in p.overdue] == [a.id]


def test_evidence_is_checked_by_content_and_size_and_stored_outside_the_database(
        session: Session, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the limits: a file above the cap and a disallowed type (an executable named .pdf,
    an HTML page) are refused and leave nothing on disk; an accepted PDF is stored under DATA_DIR
    with a random name (not the uploaded one), with its bytes and SHA-256, not in the row."""
    campaign, _ = _plan(session)
    item = items(session, campaign.id)[0]  # type: ignore[arg-type]
    monkeypatch.setitem(settings(), "evidence_max_bytes", 1000)
    with pytest.raises(PlanError, match="terlalu besar"):
        save_evidence(session, item, "laporan", "laporan.pdf", PDF + b"x" * 1000, "pic")
    for name, content in [("laporan.pdf", b"MZ\x90\x00" + b"\x00" * 100), ("foto.png", b"<html><body>x</body></html>")]:
        with pytest.raises(PlanError, match="Jenis berkas tidak diterima"):
            save_evidence(session, item, "laporan", name, content, "pic")
    assert not list(folder().iterdir())
    evidence = save_evidence(session, item, "daftar_hadir", "../../daftar hadir.pdf", PDF, "pic")
    stored = folder() / evidence.stored
    assert stored.parent == data_dir / "actionplan" and stored.read_bytes() == PDF
    assert len(evidence.stored) == 32 and "daftar" not in evidence.stored
    assert evidence.label == "daftar hadir.pdf" and evidence.file_type == "pdf" and evidence.size == len(PDF)
    assert sniff(PNG) == "png" and sniff(b"\xff\xd8\xff\xe0rest") == "jpeg"
    xlsx = io.BytesIO()
    write_form(session, campaign, xlsx)
    assert sniff(xlsx.getvalue()) == "xlsx"


def _outbox(session: Session) -> list[str]:
    return list(session.scalars(select(col(Outbox.key)).where(col(Outbox.key).like("notice:actionplan-reminder:%"))
                                .order_by(col(Outbox.key))))


def test_owner_units_are_reminded_once_per_quarter(session: Session) -> None:
    """Proves the reminder: one email per owner unit with a contact email per quarter (a second
    run in the same quarter adds none, the next quarter one more); a unit without an email and
    a finished action get none."""
    campaign, units = _plan(session)
    a, b, c = items(session, campaign.id)  # type: ignore[arg-type]
    a.owner_unit_id = units[0].id  # has a contact email
    b.owner_unit_id = units[1].id  # has none
    c.owner_unit_id, c.status = units[0].id, "selesai"
    session.flush()
    january = datetime(2025, 1, 15, 3, tzinfo=UTC)
    assert remind_owners(session, january) == {"due": 1, "enqueued": 1}
    assert remind_owners(session, datetime(2025, 3, 30, tzinfo=UTC)) == {"due": 1, "enqueued": 0}
    assert remind_owners(session, datetime(2025, 4, 2, tzinfo=UTC)) == {"due": 1, "enqueued": 1}
    keys = _outbox(session)
    assert keys == [f"notice:actionplan-reminder:c{campaign.id}:u{units[0].id}:2025-Q1",
                    f"notice:actionplan-reminder:c{campaign.id}:u{units[0].id}:2025-Q2"]
    row = session.scalars(select(Outbox).where(col(Outbox.key) == keys[0])).one()
    assert row.to_address == "dinkes@contoh.go.id"
    assert "Rekomendasi Pengelolaan Pengadaan" in row.payload["text"]
    assert "Rekomendasi Pengelolaan SDM" not in row.payload["text"]  # finished
    assert session.scalars(select(ActionEvidence)).first() is None


def test_the_plan_is_generated_from_the_risk_map(session: Session) -> None:
    """Proves `generate` turns the score report's risk map into actions: one per matrix row, in
    its order, with the standard recommendation text of its level and dimension
    (responses/data/recommendations.yaml) and the level's timing; made once."""
    from reports import build_report
    from tests.integrity.helpers import build_world

    world = build_world(session, n=40)
    rows = build_report(session, world.campaign.id).actions  # type: ignore[arg-type]
    assert rows, "the scored world must give a risk map"
    assert generate(session, world.campaign, "pic") == len(rows)
    assert generate(session, world.campaign, "pic") == 0
    plan = items(session, world.campaign.id)  # type: ignore[arg-type]
    recs = read_yaml(DATA_DIR / "recommendations.yaml")
    for row, item in zip(rows, plan, strict=True):
        assert (item.level, item.dimension, item.recommendation) == (row.level, row.dimension, row.recommendation)
        assert item.recommendation.startswith(recs["levels"][item.level]["text"])
        assert item.timing == recs["levels"][item.level]["timing"] and item.status == "belum"
