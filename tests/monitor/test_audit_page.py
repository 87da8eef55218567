"""The audit log page for admins: filters, pagination, CSV export, and append-only (no route and
no request of the app ever updates or deletes an audit row)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from core.audit import AuditLog, record
from core.db import get_engine
from tests.monitor.conftest import World, csrf_of


@pytest.fixture
def audit_rows(world: World, session: Session) -> World:
    for i in range(130):
        record(session, "pic.a", "population.import", institution_id=world.a.inst.id, target=f"batch:{i}")
    record(session, "pic.b", "sample.draw", institution_id=world.b.inst.id, target="campaign:9",
           details={"seed": 42})
    session.commit()
    return world


def test_admin_filters_pages_and_exports(audit_rows: World, as_user) -> None:
    client = as_user("admin")
    page = client.get("/pic/admin/audit")
    assert page.status_code == 200 and 'id="tabel-audit"' in page.text
    assert "Berikutnya" in page.text  # more than one page
    only_b = client.get("/pic/admin/audit", params={"institution": str(audit_rows.b.inst.id)}).text
    assert "sample.draw" in only_b and "population.import" not in only_b.split('id="tabel-audit"')[1]
    imports = client.get("/pic/admin/audit", params={"action": "population.import", "hal": 1}).text
    body = imports.split('id="tabel-audit"')[1].split("</table>")[0]
    assert body.count("<td>population.import</td>") == 130 - 100 and "sample.draw" not in body
    csv = client.get("/pic/admin/audit.csv", params={"action": "population.import"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").strip().splitlines()
    assert lines[0].startswith("Waktu (UTC),Pelaku,Tindakan") and len(lines) == 1 + 130
    # the export itself is recorded
    again = client.get("/pic/admin/audit", params={"action": "monitor.export"}).text
    assert "audit.csv" in again


def test_pic_and_viewer_cannot_read_the_audit_log(audit_rows: World, as_user) -> None:
    for user in ("pic.a", "viewer.a"):
        client = as_user(user)
        assert client.get("/pic/admin/audit").status_code == 403
        assert client.get("/pic/admin/audit.csv").status_code == 403
        client.cookies.clear()


def test_no_route_can_change_an_audit_row() -> None:
    from web import create_app

    app = create_app()
    for route in app.routes:
        path = getattr(route, "path", "")
        if "audit" in path.lower():
            assert set(getattr(route, "methods", set())) <= {"GET", "HEAD"}, (path, route.methods)  # type: ignore[attr-defined]


@pytest.fixture
def writes_to_audit(db_url: str) -> Iterator[list[str]]:
    """Every UPDATE/DELETE statement on the audit table the app sends during the test."""
    seen: list[str] = []
    engine = get_engine(db_url)

    def spy(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if re.match(r"\s*(UPDATE|DELETE)\b", statement, re.I) and re.search(r"\bauditlog\b", statement, re.I):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    yield seen
    event.remove(engine, "before_cursor_execute", spy)


def _audit_actions() -> list[str]:
    with Session(get_engine()) as fresh:
        return [f"{i}:{a}" for i, a in fresh.exec(select(AuditLog.id, AuditLog.action).order_by(AuditLog.id)).all()]


def test_the_app_only_ever_inserts_audit_rows(audit_rows: World, as_user, writes_to_audit: list[str]) -> None:
    client = as_user("admin")
    before = _audit_actions()
    csrf = csrf_of(client, "/pic/admin/audit")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        r = client.request(method, "/pic/admin/audit", data={"csrf": csrf, "id": "1"})
        assert r.status_code in (404, 405), (method, r.status_code)
    assert client.get("/pic/admin/audit.csv").status_code == 200
    assert client.post("/pic/admin/pengguna/pic.a/status", data={"csrf": csrf, "active": "0"},
                       follow_redirects=False).status_code == 303
    assert client.post(f"/pic/c/{audit_rows.a.campaign.id}/integritas/periksa",
                       data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert writes_to_audit == []
    after = _audit_actions()
    assert after[:len(before)] == before  # nothing changed or removed, only appended
    assert sorted(a.split(":", 1)[1] for a in after[len(before):]) == [
        "integrity.flag", "monitor.export", "user.disable"]


def test_action_list_and_bounded_count(audit_rows: World, as_user, session: Session,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.audit_routes as routes

    client = as_user("admin")
    expected = sorted(set(session.exec(select(AuditLog.action)).all()))
    page = client.get("/pic/admin/audit").text
    options = re.findall(r'<option value="([a-z_.]+)"', page.split('id="f-action"')[1].split("</select>")[0])
    assert options == expected and {"population.import", "sample.draw"} <= set(options)
    only_b = client.get("/pic/admin/audit", params={"institution": str(audit_rows.b.inst.id)}).text
    b_rows = len(session.exec(select(AuditLog).where(AuditLog.institution_id == audit_rows.b.inst.id)).all())
    assert f"<p>{b_rows} catatan." in only_b
    monkeypatch.setattr(routes, "COUNT_LIMIT", 50)
    capped = client.get("/pic/admin/audit", params={"action": "population.import"}).text
    assert "Lebih dari 50 catatan." in capped and "Berikutnya" in capped  # 130 rows: 2 pages
    last = client.get("/pic/admin/audit", params={"action": "population.import", "hal": 1}).text
    assert last.count("<td>population.import</td>") == 30 and "Berikutnya" not in last
    assert "Sebelumnya" in last
