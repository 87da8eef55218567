"""The integrity page: signals with evidence (no identity), review form (PIC/admin, CSRF, audited),
run-the-checks button, correction inputs and the index with and without flagged responses."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.audit import AuditLog
from core.models import Person
from monitor.users import add_user
from responses.models import Response
from tests.integrity.helpers import World as IntegrityWorld
from tests.integrity.helpers import build_world
from tests.monitor.conftest import PASSWORD, csrf_of, login


@dataclass
class Setup:
    w: IntegrityWorld
    url: str


@pytest.fixture
def flagged_world(session: Session) -> Setup:
    w = build_world(session, n=40)
    for user, role in (("pic.i", "pic"), ("viewer.i", "viewer")):
        add_user(session, login=user, password=PASSWORD, role=role, institution_id=w.institution.id,
                 actor="test")
    add_user(session, login="admin", password=PASSWORD, role="admin", institution_id=None, actor="test")
    session.commit()
    return Setup(w, f"/pic/c/{w.campaign.id}/integritas")


def _as(client: TestClient, user: str) -> TestClient:
    client.cookies.clear()
    assert login(client, user).status_code == 303
    return client


def _run_checks(client: TestClient, s: Setup) -> None:
    r = client.post(f"{s.url}/periksa", data={"csrf": csrf_of(client, s.url)}, follow_redirects=True)
    assert r.status_code == 200, r.text
    assert re.search(r"Pemeriksaan integritas selesai: \d+ tanda baru", r.text)


def test_pic_runs_checks_and_sees_signals_without_identity(flagged_world: Setup, client: TestClient,
                                                           session: Session) -> None:
    s, c = flagged_world, _as(client, "pic.i")
    before = c.get(s.url)
    assert before.status_code == 200 and "Jawaban seragam" in before.text
    _run_checks(c, s)
    page = c.get(s.url).text
    planted = set().union(*s.w.planted.values())
    for rid in planted:
        assert f"#{rid}" in page  # each flagged response is listed, by id, with a review form
    assert "Banyak kiriman dari satu perangkat" in page and "jumlah: 4" in page
    for row in session.exec(select(Response)).all():
        assert row.ip_hash is None or row.ip_hash not in page  # no device/IP hashes
    for person in session.exec(select(Person).where(Person.institution_id == s.w.institution.id)):
        assert person.name not in page and (person.phone or "-") not in page
    assert "Indeks dengan dan tanpa respons yang ditandai" in page
    assert "Masukan faktor koreksi yang diukur sistem" in page
    audit = session.exec(select(AuditLog).where(AuditLog.action == "integrity.flag")).all()
    assert any(a.actor == "pic.i" and a.institution_id == s.w.institution.id for a in audit)


def test_review_decision_is_recorded_and_changes_the_index(flagged_world: Setup, client: TestClient,
                                                           session: Session) -> None:
    s, c = flagged_world, _as(client, "pic.i")
    _run_checks(c, s)
    target = min(s.w.planted["straight"])
    csrf = csrf_of(c, s.url)
    r = c.post(f"{s.url}/tinjau/{target}", data={"csrf": csrf, "decision": "excluded", "note": "seragam"},
               follow_redirects=True)
    assert r.status_code == 200 and "Keputusan tinjauan tersimpan." in r.text
    session.expire_all()
    assert session.get(Response, target).review_status == "excluded"  # type: ignore[union-attr]
    assert session.exec(select(AuditLog).where(AuditLog.action == "integrity.review",
                                               AuditLog.actor == "pic.i")).first()
    # a bad decision, an unflagged response, another campaign's response: clear refusals
    assert c.post(f"{s.url}/tinjau/{target}", data={"csrf": csrf, "decision": "hapus"}).status_code == 422
    honest = next(r.id for r in s.w.responses if r.id not in set().union(*s.w.planted.values()))
    bad = c.post(f"{s.url}/tinjau/{honest}", data={"csrf": csrf, "decision": "kept"})
    assert bad.status_code == 422 and "tidak memiliki tanda" in bad.text
    assert c.post(f"{s.url}/tinjau/{10**9}", data={"csrf": csrf, "decision": "kept"}).status_code == 404
    # without CSRF nothing is recorded
    assert c.post(f"{s.url}/tinjau/{target}", data={"decision": "kept"}).status_code == 403


def test_viewer_is_read_only(flagged_world: Setup, client: TestClient) -> None:
    s, c = flagged_world, _as(client, "viewer.i")
    page = c.get(s.url)
    assert page.status_code == 200
    assert "Jalankan pemeriksaan" not in page.text and 'name="decision"' not in page.text
    csrf = csrf_of(c, s.url)
    assert c.post(f"{s.url}/periksa", data={"csrf": csrf}, follow_redirects=False).status_code == 403
    rid = s.w.responses[0].id
    assert c.post(f"{s.url}/tinjau/{rid}", data={"csrf": csrf, "decision": "kept"},
                  follow_redirects=False).status_code == 403


def test_index_with_and_without_flagged_and_exports(flagged_world: Setup, client: TestClient) -> None:
    from responses.scoring import score_institution

    s, c = flagged_world, _as(client, "admin")
    _run_checks(c, s)
    csv = c.get(f"{s.url}/export/indeks.csv")
    assert csv.status_code == 200
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "Komponen,Semua respons,Tanpa respons ditandai"
    flagged_csv = c.get(f"{s.url}/export/ditandai.csv").content.decode("utf-8-sig")
    assert len(flagged_csv.strip().splitlines()) == 1 + len(set().union(*s.w.planted.values()))
    from core.db import session_scope

    with session_scope() as db:
        all_n = score_institution(db, s.w.campaign.id).groups["internal"].n  # type: ignore[arg-type]
        clean_n = score_institution(db, s.w.campaign.id, include_flagged=False).groups["internal"].n  # type: ignore[arg-type]
    assert clean_n < all_n
    assert f"Responden internal,{all_n},{clean_n}" in text


def test_small_units_are_not_broken_down(session: Session, client: TestClient) -> None:
    w = build_world(session, n=12)  # 4 responses per unit: below the minimum cell of 5
    add_user(session, login="pic.i", password=PASSWORD, role="pic", institution_id=w.institution.id, actor="t")
    session.commit()
    c = _as(client, "pic.i")
    url = f"/pic/c/{w.campaign.id}/integritas"
    _run_checks(c, Setup(w, url))
    page = c.get(url).text
    assert "disembunyikan: kurang dari batas minimal" in page
    assert "unit kecil (disembunyikan)" in page
    flagged_table = page.split('id="tabel-ditandai"')[1].split("</table>")[0]
    assert "#" in flagged_table and all(u.name not in flagged_table for u in w.units)
