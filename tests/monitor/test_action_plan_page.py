"""The action plan page /pic/c/<id>/rencana-aksi (issue 24): made from the risk map, edited,
exported and re-imported, evidence uploaded within its limits and served only to its institution."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, col, select

from actionplan import ActionEvidence, ActionItem, seed, settings
from core.config import reset_settings
from core.models import Campaign
from tests.monitor.conftest import World, csrf_of, login

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def data_dir(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    yield tmp_path / "data"
    reset_settings()


def _made(client: Any, campaign_id: int, session: Session) -> list[ActionItem]:
    """The plan of the campaign: the page's button (the fixture has no answers, so its risk map
    makes no action), then the matrix rows a scored campaign would give (`actionplan.seed`)."""
    url = f"/pic/c/{campaign_id}/rencana-aksi"
    made = client.post(f"{url}/buat", data={"csrf": csrf_of(client, url)}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].endswith("?ok=kosong"), made.text
    assert "Peta risiko belum tersedia" in client.get(made.headers["location"]).text
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    rows = [SimpleNamespace(level="Tinggi", group="internal", dimension=f"Dimensi {k}", variable=f"Variabel {k}",
                            levels="risiko: Tinggi", recommendation=f"Rekomendasi {k}", mcp_area="Manajemen ASN",
                            timing="3-6 bulan") for k in range(2)]
    seed(session, campaign, rows, "test")
    session.commit()
    return list(session.scalars(select(ActionItem).where(col(ActionItem.campaign_id) == campaign_id)
                                .order_by(col(ActionItem.position))))


def test_plan_from_the_risk_map_edit_export_and_import(world: World, as_user: Any, session: Session,
                                                       data_dir: Path) -> None:
    """Proves the page's flow: the plan's actions are shown, the PIC edits one on the page (text,
    owner, due date, status), and the downloaded form re-imported with an edited cell changes
    that cell and keeps the page's edits."""
    client = as_user("pic.a")
    cid = world.a.campaign.id
    plan = _made(client, cid, session)  # type: ignore[arg-type]
    assert len(plan) == 2
    page = client.get(f"/pic/c/{cid}/rencana-aksi")
    assert page.status_code == 200 and "Rencana aksi" in page.text and f'id="aksi-{plan[0].id}"' in page.text
    url = f"/pic/c/{cid}/rencana-aksi"
    saved = client.post(f"{url}/aksi/{plan[0].id}", follow_redirects=False, data={
        "csrf": csrf_of(client, url), "action": "Sosialisasi gratifikasi tiap triwulan", "recommendation":
        plan[0].recommendation, "mcp_area": plan[0].mcp_area, "owner": str(world.a.units[0].id),
        "timing": plan[0].timing, "due_date": "2025-06-30", "status": "berjalan"})
    assert saved.status_code == 303, saved.text
    form = client.get(f"/pic/c/{cid}/rencana-aksi.xlsx")
    assert form.status_code == 200
    wb = load_workbook(io.BytesIO(form.content))
    ws = wb[settings()["form_sheet"]]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("Aksi") + 1).value == "Sosialisasi gratifikasi tiap triwulan"
    ws.cell(2, header.index("Aksi") + 1, "Diubah di Excel")
    out = io.BytesIO()
    wb.save(out)
    imported = client.post(f"{url}/impor", data={"csrf": csrf_of(client, url)}, follow_redirects=False,
                           files=[("berkas", ("rencana.xlsx", out.getvalue(), "application/octet-stream"))])
    assert imported.status_code == 303, imported.text
    session.commit()  # a new transaction: see what the app wrote
    session.expire_all()
    first = session.get(ActionItem, plan[0].id)
    assert first is not None and first.action == "Diubah di Excel" and first.status == "berjalan"
    assert first.owner_unit_id == world.a.units[0].id


def test_evidence_limits_and_only_its_institution_sees_it(world: World, client: Any, session: Session,
                                                          data_dir: Path) -> None:
    """Proves over HTTP: a disallowed type is refused (422), a body above the cap is refused
    before it is read (413), a PDF is stored and served to its institution, and another
    institution's PIC gets 404 for it (through either campaign's URL); a viewer cannot upload."""
    assert login(client, "pic.a").status_code == 303
    cid = world.a.campaign.id
    plan = _made(client, cid, session)  # type: ignore[arg-type]
    assert len(plan) == 2
    url = f"/pic/c/{cid}/rencana-aksi"
    target = f"{url}/aksi/{plan[0].id}/bukti"

    def upload(content: bytes, name: str) -> Any:
        return client.post(target, data={"csrf": csrf_of(client, url), "jenis": "laporan"}, follow_redirects=False,
                           files=[("berkas", (name, content, "application/pdf"))])

    refused = upload(b"MZ\x90\x00" + b"\x00" * 200, "laporan.pdf")
    assert refused.status_code == 422 and "Jenis berkas tidak diterima" in refused.text
    too_big = upload(PDF + b"0" * (int(settings()["evidence_max_bytes"]) + 512 * 1024), "besar.pdf")
    assert too_big.status_code == 413
    assert session.scalars(select(ActionEvidence)).first() is None
    assert upload(PDF, "notulen rapat.pdf").status_code == 303
    session.commit()  # a new transaction: see what the app wrote
    session.expire_all()
    evidence = session.scalars(select(ActionEvidence)).one()
    mine = client.get(f"{url}/bukti/{evidence.id}")
    assert mine.status_code == 200 and mine.content == PDF and mine.headers["content-type"] == "application/pdf"

    client.cookies.clear()
    assert login(client, "pic.b").status_code == 303
    assert client.get(f"{url}/bukti/{evidence.id}").status_code == 404
    assert client.get(f"/pic/c/{world.b.campaign.id}/rencana-aksi/bukti/{evidence.id}").status_code == 404
    assert client.get(url).status_code == 404

    client.cookies.clear()
    assert login(client, "viewer.a").status_code == 303
    assert client.get(f"{url}/bukti/{evidence.id}").status_code == 200  # the head of the institution sees it
    page = client.get(url)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    csrf = token.group(1) if token else ""
    denied = client.post(target, data={"csrf": csrf, "jenis": "laporan"}, follow_redirects=False,
                         files=[("berkas", ("x.pdf", PDF, "application/pdf"))])
    assert denied.status_code in (403, 404)
