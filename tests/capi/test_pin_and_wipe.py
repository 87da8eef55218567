"""Interviewers' PIN login on a shared tablet and the remote wipe (issue 23), on both backends:
the PIN opens a short session good only for the CAPI API, wrong PINs are limited by the dashboard's
login limiter, a PIC orders "delete unsynced data" for a device and the device gets it at its next
contact (nothing of that batch is stored) until it confirms; the PIC's page counts per interviewer."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

import capi
from capi.models import CapiSubmission, WipeOrder
from core.clock import as_utc
from core.config import get_settings
from monitor.models import MonitorSession
from tests.capi.conftest import DEVICE, PASSWORD, PIN, Field, interviewer, pin_login


def refusal(world: Field, n: int) -> dict[str, object]:
    return {"submission_id": f"refusal-{n:04d}-abcdef", "mode": "assigned", "outcome": "refused",
            "campaign_id": world.campaign.id, "assignment_id": world.handed[n].id, "refusal_reason": "sibuk"}


def pic_login(client: TestClient, login: str = "pic.s") -> str:
    page = client.get("/pic/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    res = client.post("/pic/login", data={"login": login, "password": PASSWORD, "csrf": csrf.group(1),
                                          "next": "/pic"}, follow_redirects=False)
    assert res.status_code == 303, res.text
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/pic/capi").text)
    assert found
    return found.group(1)


def test_the_pin_opens_a_short_session_for_the_api_only(client: TestClient, world: Field,
                                                        session: Session) -> None:
    """Proves: a right PIN logs in (a wrong one is refused with the same message as an unknown
    login), the session ends after capi.yaml's session_minutes (not the dashboard's hours), and
    the interviewer is refused every dashboard page."""
    assert pin_login(client, pin="000000").status_code == 401
    assert pin_login(client, login="nobody").json()["message"] == capi.message("pin_wrong")
    res = pin_login(client)
    assert res.status_code == 200 and res.json()["name"] == "Pewawancara wawan"
    row = session.exec(select(MonitorSession).where(MonitorSession.user_id == world.interviewer.id)).one()
    lifetime = as_utc(row.expires_at) - as_utc(row.created_at)  # type: ignore[arg-type]
    assert lifetime == timedelta(minutes=capi.settings()["session_minutes"]) < timedelta(
        hours=get_settings().monitor_session_hours)
    assert client.get("/pic", follow_redirects=False).status_code == 403
    assert client.get("/api/capi/bundle", headers={"X-Capi-Device": DEVICE}).status_code == 200


def test_a_pic_session_is_no_interviewer_session(client: TestClient, world: Field) -> None:
    """Proves the API checks the role: a logged-in PIC gets 401 from the interviewer API, and a PIN
    set for a PIC-role user (none can be) would not log in."""
    pic_login(client)
    assert client.get("/api/capi/bundle", headers={"X-Capi-Device": DEVICE}).status_code == 401
    assert pin_login(client, login="pic.s").status_code == 401


def test_wrong_pins_are_limited_per_network(client: TestClient, world: Field) -> None:
    """Proves the dashboard's login limiter covers PINs: after MONITOR_LOCKOUT_ATTEMPTS wrong PINs
    even the right PIN is refused with 429 (a 6-digit PIN cannot be guessed by trying)."""
    for _ in range(get_settings().monitor_lockout_attempts):
        assert pin_login(client, pin="111111").status_code == 401
    assert pin_login(client).status_code == 429


def test_the_device_obeys_a_wipe_order_at_its_next_contact(client: TestClient, world: Field,
                                                          session: Session) -> None:
    """Proves the wipe: the PIC orders it for the device seen at login; the next sync from that
    device answers wipe=true and stores nothing; after the device confirms, the order is obeyed
    (audited) and the next sync stores again. Another device is not affected."""
    res = pin_login(client)
    headers = {"X-Capi-Device": DEVICE, "X-CSRF-Token": res.json()["csrf"]}
    csrf = pic_login(client)  # the PIC on another browser would do; one client is enough here
    assert DEVICE[:8] in client.get("/pic/capi").text
    ordered = client.post("/pic/capi/hapus-perangkat", data={"csrf": csrf, "instansi": world.inst.id,
                                                             "device_id": DEVICE}, follow_redirects=False)
    assert ordered.status_code == 303
    res = pin_login(client)
    assert res.json()["wipe"] is True  # the login is a contact too
    headers["X-CSRF-Token"] = res.json()["csrf"]
    sent = client.post("/api/capi/sync", json={"items": [refusal(world, 0)]}, headers=headers).json()
    assert sent == {"wipe": True, "results": []}
    assert session.exec(select(func.count()).select_from(CapiSubmission)).one() == 0
    done = client.post("/api/capi/wipe-done", json={}, headers=headers)
    assert done.json() == {"obeyed": 1}
    session.rollback()
    order = session.exec(select(WipeOrder)).one()
    assert order.obeyed_at is not None and order.ordered_by == "pic.s"
    sent = client.post("/api/capi/sync", json={"items": [refusal(world, 1)]}, headers=headers).json()
    assert sent["wipe"] is False and sent["results"][0]["status"] == "stored"


def test_the_pic_adds_an_interviewer_and_sees_the_figures(client: TestClient, world: Field,
                                                         session: Session) -> None:
    """Proves the PIC's page: a new interviewer with a PIN can log in at once; after a sync the
    per-interviewer row shows assigned 3, done 0, refused 1, synced today (0 days)."""
    csrf = pic_login(client)
    bad = client.post("/pic/capi/pewawancara", data={"csrf": csrf, "instansi": world.inst.id, "login": "budi",
                                                     "pin": "12"}, follow_redirects=False)
    assert "error=" in bad.headers["location"]  # a 2-digit PIN is refused
    added = client.post("/pic/capi/pewawancara", data={"csrf": csrf, "instansi": world.inst.id,
                                                       "login": "budi", "name": "Budi", "pin": "7351"},
                        follow_redirects=False)
    assert added.status_code == 303 and "ok=pewawancara" in added.headers["location"]
    res = pin_login(client)
    headers = {"X-Capi-Device": DEVICE, "X-CSRF-Token": res.json()["csrf"]}
    client.post("/api/capi/sync", json={"items": [refusal(world, 0)]}, headers=headers)
    pic_login(client)
    page = client.get("/pic/capi").text
    row = re.search(r"<tr><td>Pewawancara wawan</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\w+)</td>", page)
    assert row and row.groups() == ("3", "0", "1", "0"), page
    assert "<td>Budi</td>" in page
    assert pin_login(client, login="budi", pin="7351").status_code == 200


def test_another_institution_cannot_take_these_respondents(client: TestClient, world: Field,
                                                          session: Session) -> None:
    """Proves scoping: an interviewer of another institution syncing an item for this one's
    respondent is refused (no campaign of theirs), and nothing is stored."""
    from tests.factories import make_campaign, make_institution

    other = make_institution(session, name="Kabupaten Lain")
    make_campaign(session, other)
    interviewer(session, "lain", other, pin=PIN)
    session.commit()
    res = pin_login(client, login="lain")
    headers = {"X-Capi-Device": "tablet-lain-0001", "X-CSRF-Token": res.json()["csrf"]}
    out = client.post("/api/capi/sync", json={"items": [refusal(world, 0)]}, headers=headers).json()
    assert out["results"][0]["message"] == capi.message("no_campaign")
    assert session.exec(select(func.count()).select_from(CapiSubmission)
                        .where(col(CapiSubmission.interviewer_id) == world.interviewer.id)).one() == 0


def test_twenty_interviews_in_an_hour_are_flagged_for_the_pic(client: TestClient, world: Field) -> None:
    """Proves the speed signal: 20 intercept interviews 2 minutes apart (all inside 60 minutes)
    flag the interviewer on the PIC's page; 19 of them would not (capi.yaml fast_interviews)."""
    from tests.capi.test_sync_api import answers

    res = pin_login(client)
    headers = {"X-Capi-Device": DEVICE, "X-CSRF-Token": res.json()["csrf"]}
    items = [{"submission_id": f"cepat-{n:04d}-abcdef", "mode": "intercept", "outcome": "done",
              "campaign_id": world.campaign.id, "counter_id": world.counter.id,
              "answers": answers("external", world.campaign.year),
              "interviewed_at": f"2026-01-05T03:{2 * n:02d}:00Z"} for n in range(20)]
    assert client.post("/api/capi/sync", json={"items": items[:19]}, headers=headers).status_code == 200
    pic_login(client)
    assert "Terlalu cepat" not in client.get("/pic/capi").text
    res = pin_login(client)
    headers["X-CSRF-Token"] = res.json()["csrf"]
    out = client.post("/api/capi/sync", json={"items": items}, headers=headers).json()
    assert [r["status"] for r in out["results"]] == ["duplicate"] * 19 + ["stored"]
    pic_login(client)
    page = client.get("/pic/capi").text
    assert "Terlalu cepat: 20 wawancara dalam 60 menit" in page
    assert "Loket 1</td><td>20</td>" in page  # the counter's figure


def test_most_within_counts_the_busiest_window() -> None:
    """Proves the window count used by the signal, edges included (a window is half-open)."""
    from datetime import datetime, timedelta

    from capi.service import most_within

    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    hour = timedelta(minutes=60)
    assert most_within([], hour) == 0
    assert most_within([t0 + timedelta(minutes=m) for m in (0, 30, 59, 60, 61, 200)], hour) == 4
    assert most_within([t0 + timedelta(minutes=m) for m in (0, 60, 120)], hour) == 1


def test_the_pic_page_is_scoped_and_for_pics_only(client: TestClient, world: Field, session: Session) -> None:
    """Proves the PIC page's authorisation: anonymous -> login, an interviewer's session -> 403,
    a PIC of another institution neither sees this one's figures nor can order a wipe of its
    device (404), whatever `instansi` they send."""
    from monitor.users import add_user
    from tests.factories import make_institution

    other = make_institution(session, name="Kabupaten Lain")
    add_user(session, login="pic.lain", password=PASSWORD, role="pic", institution_id=other.id, actor="test")
    session.commit()
    assert client.get("/pic/capi", follow_redirects=False).status_code == 303
    pin_login(client)  # also records DEVICE for this institution
    assert client.get("/pic/capi", follow_redirects=False).status_code == 403
    csrf = pic_login(client, "pic.lain")
    page = client.get(f"/pic/capi?instansi={world.inst.id}").text
    assert "Kabupaten Lain" in page and "Pewawancara wawan" not in page and DEVICE[:8] not in page
    res = client.post("/pic/capi/hapus-perangkat", data={"csrf": csrf, "instansi": world.inst.id,
                                                         "device_id": DEVICE}, follow_redirects=False)
    assert res.status_code == 404
    session.rollback()
    assert session.exec(select(func.count()).select_from(WipeOrder)).one() == 0
