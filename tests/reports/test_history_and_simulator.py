"""History entered once, a written report's own result kept for peers, the peer classes, and the
correction simulator page."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from reports import build_report, set_history
from reports.history import ranking, store_result
from reports.router import report_router
from responses import IndexHistory
from tests.factories import make_institution
from tests.integrity.helpers import build_world
from tests.reports.helpers import institution_with_responses


def test_history_entry_validated_and_kpk_figure_kept(session: Session) -> None:
    """Proves: out-of-range values are refused; storing a report's own result never overwrites
    a year entered from KPK, but fills a year that has none."""
    inst, camp, _ = institution_with_responses(session, units=2, seed=3)
    with pytest.raises(ValueError, match="between 0 and 100"):
        set_history(session, inst.id, 2023, 101.0)  # type: ignore[arg-type]
    report = build_report(session, camp.id)  # type: ignore[arg-type]
    assert store_result(session, report) is not None  # no row yet for 2024: stored as spibot
    set_history(session, inst.id, 2024, 70.0, source="KPK 2024 (publikasi)")  # type: ignore[arg-type]
    assert store_result(session, report) is None
    row = session.exec(select(IndexHistory).where(IndexHistory.institution_id == inst.id)).one()
    assert (row.index, row.source) == (70.0, "KPK 2024 (publikasi)")


def test_ranking_per_peer_class_with_ties(session: Session) -> None:
    """Proves: a province is ranked among provinces only; equal indices share a rank; a kind
    outside the classes (data file) is not ranked."""
    provs = [make_institution(session, kind="provinsi", name=f"Provinsi {c}") for c in "ABC"]
    kab = make_institution(session, kind="kabupaten", name="Kabupaten Z")
    other = make_institution(session, kind="bumn", name="BUMN Y")
    for inst, value in zip([*provs, kab, other], [80.0, 75.5, 75.5, 99.0, 90.0], strict=True):
        set_history(session, inst.id, 2024, value)  # type: ignore[arg-type]
    r = ranking(session, provs[2], 2024, 75.5)
    assert r is not None and (r.rank, r.of) == (2, 3)
    assert [row[:3] for row in r.rows] == [(1, "Provinsi A", 80.0), (2, "Provinsi B", 75.5), (2, "Provinsi C", 75.5)]
    assert ranking(session, other, 2024, 90.0) is None


def test_simulator_page(session: Session) -> None:
    """Proves: the page before close shows the measured parts and the points at risk; 404 otherwise."""
    w = build_world(session, n=40)
    session.commit()
    app = FastAPI()
    app.include_router(report_router)
    client = TestClient(app)
    page = client.get(f"/laporan/{w.campaign.id}/simulasi")
    assert page.status_code == 200
    assert "survei masih berjalan" in page.text and "Jawaban anomali" in page.text and "17,5%" in page.text
    assert "poin" in page.text and "<script" not in page.text
    assert client.get("/laporan/999999/simulasi").status_code == 404
