"""The campaign lifecycle on the overview page: "Tutup kampanye" with a reason and a confirmation
page, "Buka kembali", "Arsipkan" (admin); PIC of the institution or admin, CSRF on POST, another
institution's campaign 404 (issue #21). World: tests/monitor/conftest.py."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.audit import AuditLog
from core.models import Campaign
from tests.monitor.conftest import World, csrf_of, login


def _post(client: TestClient, url: str, csrf: str, **data: str) -> Any:
    return client.post(url, data={"csrf": csrf, **data}, follow_redirects=False)


def _campaign(session: Session, cid: int | None) -> Campaign:
    session.rollback()  # a fresh snapshot: the app committed in its own session
    session.expire_all()  # (and no stale object: the session may have had no transaction to roll back)
    found = session.get(Campaign, cid)
    assert found is not None
    return found


def test_pic_closes_with_a_reason_after_confirming_then_reopens(world: World, as_user, session: Session) -> None:
    client: TestClient = as_user("pic.a")
    cid = world.a.campaign.id
    overview = client.get(f"/pic/c/{cid}").text
    assert 'id="h-siklus">Status kampanye<' in overview and "Tutup kampanye" in overview
    form = client.get(f"/pic/c/{cid}/siklus/tutup")
    assert form.status_code == 200 and "Alasan penutupan" in form.text
    csrf = csrf_of(client, f"/pic/c/{cid}/siklus/tutup")
    unconfirmed = _post(client, f"/pic/c/{cid}/siklus/tutup", csrf, alasan="Target tercapai")
    assert unconfirmed.status_code == 422 and "Centang kotak konfirmasi" in unconfirmed.text
    no_reason = _post(client, f"/pic/c/{cid}/siklus/tutup", csrf, alasan=" ", yakin="ya")
    assert no_reason.status_code == 422 and "alasan" in no_reason.text
    assert _campaign(session, cid).status == "open"
    done = _post(client, f"/pic/c/{cid}/siklus/tutup", csrf, alasan="Target tercapai", yakin="ya")
    assert done.status_code == 303 and done.headers["location"].endswith("?ok=tutup#siklus")
    closed = _campaign(session, cid)
    assert closed.status == "closed" and closed.closed_by == "pic.a" and closed.closed_reason == "Target tercapai"
    page = client.get(f"/pic/c/{cid}?ok=tutup").text
    assert "Kampanye ditutup." in page and "oleh pic.a" in page and "Buka kembali" in page
    assert "Arsipkan" not in page  # admin only
    assert _post(client, f"/pic/c/{cid}/siklus/arsip", csrf).status_code == 403
    reopened = _post(client, f"/pic/c/{cid}/siklus/buka", csrf, alasan="Diperpanjang KPK")
    assert reopened.status_code == 303
    assert _campaign(session, cid).status == "open"
    session.rollback()
    actions = session.exec(select(AuditLog.action, AuditLog.actor).where(
        col(AuditLog.action).like("campaign.%")).order_by(col(AuditLog.id))).all()
    assert [tuple(a) for a in actions] == [("campaign.close", "pic.a"), ("campaign.reopen", "pic.a")]


def test_admin_archives_a_closed_campaign(world: World, as_user, session: Session) -> None:
    client: TestClient = as_user("admin")
    cid = world.b.campaign.id
    csrf = csrf_of(client, f"/pic/c/{cid}/siklus/tutup")
    assert _post(client, f"/pic/c/{cid}/siklus/tutup", csrf, alasan="Selesai", yakin="ya").status_code == 303
    assert "Arsipkan" in client.get(f"/pic/c/{cid}").text
    assert _post(client, f"/pic/c/{cid}/siklus/arsip", csrf).status_code == 303
    assert _campaign(session, cid).status == "archived"
    assert "Diarsipkan" in client.get(f"/pic/c/{cid}").text


def test_viewer_other_institution_and_missing_csrf_cannot_act(world: World, client: TestClient,
                                                             session: Session) -> None:
    assert login(client, "viewer.a").status_code == 303
    cid_a, cid_b = world.a.campaign.id, world.b.campaign.id
    assert "Tutup kampanye" not in client.get(f"/pic/c/{cid_a}").text
    csrf = csrf_of(client, f"/pic/c/{cid_a}")
    assert _post(client, f"/pic/c/{cid_a}/siklus/tutup", csrf, alasan="x", yakin="ya").status_code == 403
    assert login(client, "pic.a").status_code == 303
    csrf = csrf_of(client, f"/pic/c/{cid_a}")
    assert _post(client, f"/pic/c/{cid_b}/siklus/tutup", csrf, alasan="x", yakin="ya").status_code == 404
    assert client.post(f"/pic/c/{cid_a}/siklus/tutup", data={"alasan": "x", "yakin": "ya"},
                       follow_redirects=False).status_code in (400, 403)
    assert _campaign(session, cid_a).status == "open" and _campaign(session, cid_b).status == "open"
