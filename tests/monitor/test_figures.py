"""The figures each page shows (from the world in conftest: institution A has 4 units; unit i has 5
sampled employees of whom i responded; outbox rows cycle delivered/read/sent/failed 63024)."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from core.audit import AuditLog
from core.clock import utcnow
from monitor import pages
from tests.monitor.conftest import World, csrf_of


def test_unit_table_counts_and_three_lowest(world: World, session: Session) -> None:
    data = pages.units(session, world.a.campaign, world.a.inst)
    internal = data.table("unit-internal")
    assert internal is not None
    by_name = {row[1]: row for row in internal.rows}
    # [code, name, population, clean %, sample, reached, responded, rate]
    # percentages are Percent cells: "83,3%" on the page, a percent number in .xlsx
    assert [str(v) for v in by_name["Dinas Katingan 0"][2:]] == ["6", "83,3%", "5", "3", "0", "0,0%"]
    assert [str(v) for v in by_name["Dinas Katingan 3"][4:]] == ["5", "2", "3", "60,0%"]
    assert [internal.rows[i][1] for i in sorted(internal.highlight)] == [
        "Dinas Katingan 0", "Dinas Katingan 1", "Dinas Katingan 2"]
    assert not any("Barito" in row[1] for t in data.tables for row in t.rows)


def test_overview_funnel_and_daily(world: World, session: Session) -> None:
    data = pages.overview(session, world.a.campaign, world.a.inst)
    funnel = data.table("corong")
    assert funnel is not None
    rows = {r[0]: r[1:] for r in funnel.rows}
    # sampled, queued, sent, delivered, read, responded
    assert rows["WhatsApp"] == [20, 20, 15, 10, 5, 6]
    assert rows["Semua saluran"] == [20, 20, 15, 10, 5, 6]
    daily = data.table("harian")
    assert daily is not None
    assert sum(r[1] for r in daily.rows) == 15 and sum(r[2] for r in daily.rows) == 6
    assert data.extra["days_left"] == 30


def test_delivery_problems_grouped_in_indonesian(world: World, session: Session) -> None:
    data = pages.delivery_problems(session, world.a.campaign, world.a.inst)
    reasons = data.table("alasan")
    assert reasons is not None and reasons.rows[0][0] == "Nomor tidak terdaftar di WhatsApp"
    assert reasons.rows[0][2] == 5
    contacts = data.table("kontak")
    assert contacts is not None and len(contacts.rows) == 5
    assert all(r[3] == "+6281200000000" or r[3].startswith("+62") for r in contacts.rows)


def test_exports_csv_and_xlsx_match_the_page_and_are_audited(world: World, as_user, session: Session) -> None:
    client: TestClient = as_user("pic.a")
    cid = world.a.campaign.id
    response = client.get(f"/pic/c/{cid}/unit/export/unit-internal.csv")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Kode", "Unit kerja", "Populasi"] and len(rows) == 5
    response = client.get(f"/pic/c/{cid}/masalah/export/kontak.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.max_row == 6 and sheet["E2"].value == "Nomor tidak terdaftar di WhatsApp"
    assert client.get(f"/pic/c/{cid}/unit/export/tidak-ada.csv").status_code == 404
    session.expire_all()
    targets = list(session.exec(select(AuditLog.target).where(AuditLog.action == "monitor.export")))
    assert len(targets) == 2


def test_formula_injection_is_neutralised(world: World, session: Session) -> None:
    from monitor.tables import Table, to_csv

    body = to_csv(Table("x", "X", ["Nama"], [["=HYPERLINK(\"http://evil\")"]])).decode("utf-8-sig")
    assert "'=HYPERLINK" in body


def test_live_json_refreshes_figures(world: World, as_user, session: Session) -> None:
    client: TestClient = as_user("pic.a")
    url = f"/pic/c/{world.a.campaign.id}/live.json"
    key = f"unit.{world.a.units[0].id}.internal.responded"
    assert client.get(url).json()["figures"][key] == "0"
    world.a.assignments[0].responded_at = utcnow()
    session.add(world.a.assignments[0])
    session.commit()
    assert client.get(url).json()["figures"][key] == "1"


def test_reminder_button_goes_through_the_dispatcher(world: World, as_user, session: Session) -> None:
    from dispatch.models import Outbox

    client: TestClient = as_user("pic.a")
    cid, unit = world.a.campaign.id, world.a.units[1]
    csrf = csrf_of(client, f"/pic/c/{cid}/unit")
    response = client.post(f"/pic/c/{cid}/unit/{unit.id}/pengingat", data={"csrf": csrf}, follow_redirects=True)
    assert response.status_code == 200 and "Pengingat dijadwalkan" in response.text
    session.expire_all()
    reminders = list(session.exec(select(Outbox).where(Outbox.purpose == "reminder")))
    responded = {a.id for a in world.a.assignments if a.responded_at is not None}
    assert reminders, "the dispatcher queued no reminder"
    assert {r.unit_id for r in reminders} == {unit.id}
    assert not {r.assignment_id for r in reminders} & responded
    assert session.exec(select(AuditLog).where(AuditLog.action == "monitor.reminder")).first()


def test_national_view_for_admin(world: World, as_user) -> None:
    client: TestClient = as_user("admin")
    page = client.get("/pic")
    assert page.status_code == 200
    assert world.a.inst.name in page.text and world.b.inst.name in page.text
