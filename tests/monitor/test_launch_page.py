"""Luncurkan: the preflight as a checklist in Indonesian, the send plan of the invitation wave, and
the launch through a confirmation page: it enqueues exactly the sample's invitations once (the
outbox keys), is refused with its reason (preflight, no sample, closed campaign), and a viewer
cannot act. Then the "Pengiriman" panel is on the page. One browser walk: a counter, its poster
link, the launch. (Own world: the dashboard conftest's world already has invitation rows.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from core.audit import AuditLog
from core.config import reset_settings
from core.models import Campaign
from dispatch.models import Outbox, Wave
from monitor.users import add_user
from tests.factories import make_assignment, make_campaign, make_institution, make_person, make_unit
from tests.monitor.conftest import PASSWORD, csrf_of, login


@dataclass
class Launchable:
    campaign: Campaign
    empty: Campaign  # same institution, no sample
    other: Campaign  # another institution's
    whatsapp: int  # sampled with a WhatsApp number
    email: int  # sampled with an email only


@pytest.fixture(autouse=True)
def _sending_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No quiet hours (the tests run at any hour), a daily WhatsApp limit of 250."""
    monkeypatch.setenv("QUIET_START", "00:00")
    monkeypatch.setenv("QUIET_END", "00:00")
    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", "250")
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def launchable(session: Session) -> Launchable:
    inst = make_institution(session, name="Kabupaten Luncur")
    campaign = make_campaign(session, inst, name="SPI Luncur")
    empty = make_campaign(session, inst, name="SPI Kosong")
    unit = make_unit(session, inst, name="Dinas Perizinan")
    for i in range(5):
        make_assignment(session, campaign, make_person(session, unit, email=None if i % 2 else f"p{i}@contoh.id"))
    for _ in range(2):
        make_assignment(session, campaign, make_person(session, unit, phone=None))
    make_assignment(session, campaign, make_person(session, unit, phone=None, email=None))  # unreachable
    other_inst = make_institution(session, name="Kota Lain")
    other = make_campaign(session, other_inst)
    add_user(session, login="pic.l", password=PASSWORD, role="pic", institution_id=inst.id, name="PIC Luncur",
             actor="test")
    add_user(session, login="viewer.l", password=PASSWORD, role="viewer", institution_id=inst.id, actor="test")
    session.commit()
    return Launchable(campaign, empty, other, whatsapp=5, email=2)


def _as(client: TestClient, user: str) -> TestClient:
    assert login(client, user).status_code == 303
    return client


def _outbox(session: Session, campaign_id: int | None = None) -> int:
    session.rollback()  # a fresh snapshot: the app committed in its own session
    query = select(func.count()).select_from(Outbox)
    if campaign_id is not None:
        query = query.where(Outbox.campaign_id == campaign_id)
    return int(session.exec(query).one())


def _launch(client: TestClient, campaign_id: int, **data: str) -> Any:
    csrf = csrf_of(client, f"/pic/c/{campaign_id}/luncurkan")
    return client.post(f"/pic/c/{campaign_id}/luncurkan", data={"csrf": csrf, **data}, follow_redirects=False)


def test_page_shows_the_checklist_and_the_plan(launchable: Launchable, client: TestClient) -> None:
    page = _as(client, "pic.l").get(f"/pic/c/{launchable.campaign.id}/luncurkan")
    assert page.status_code == 200
    text = page.text
    assert 'aria-current="page">Luncurkan<' in text
    assert "✓ Sampel: 8 responden aktif." in text
    assert "✓ Pengaturan pengiriman (WhatsApp, email, alamat publik) lulus pemeriksaan." in text
    assert "WhatsApp: <b>5</b> undangan" in text and "Email: <b>2</b> undangan" in text
    assert "Tanpa nomor WhatsApp atau email yang dapat dipakai: 1 responden" in text
    assert "Undangan terakhir terkirim ±" in text and "batas WhatsApp 250 nomor per 24 jam" in text
    assert "Tidak ada jam tenang" in text
    assert f'action="/pic/c/{launchable.campaign.id}/luncurkan/konfirmasi"' in text
    assert 'id="pengiriman"' not in text  # nothing launched yet


def test_quiet_hours_are_said(launchable: Launchable, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIET_START", "21:00")
    monkeypatch.setenv("QUIET_END", "08:30")
    reset_settings()
    text = _as(client, "pic.l").get(f"/pic/c/{launchable.campaign.id}/luncurkan").text
    assert "Jam tenang 21.00–08.30 waktu setempat responden" in text


def test_preflight_failures_are_listed_in_indonesian_and_refuse_the_launch(
    launchable: Launchable, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WHATSAPP_BACKEND", "twilio")  # the placeholder Content SIDs, no daily limit
    monkeypatch.delenv("WHATSAPP_DAILY_LIMIT")
    reset_settings()
    cid = launchable.campaign.id
    text = _as(client, "pic.l").get(f"/pic/c/{cid}/luncurkan").text
    assert ("✗ <code>TWILIO_CONTENT_SID_INVITATION</code>: &#39;HXinvitation00000000000000000000&#39; "
            "bukan Content SID") in text
    assert "salin SID-nya ke .env" in text  # what to fix
    assert "✗ <code>WHATSAPP_DAILY_LIMIT</code>: belum diisi" in text
    assert "Hubungi admin untuk memperbaikinya" in text
    assert "Pemeriksaan sebelum pengiriman belum lulus" in text and "disabled" in text
    assert "is not a Content SID" not in text  # the English half is for the CLI and the logs
    konfirmasi = client.get(f"/pic/c/{cid}/luncurkan/konfirmasi").text
    assert "Undangan belum dapat diluncurkan" in konfirmasi and "Ya, luncurkan" not in konfirmasi
    refused = _launch(client, cid, yakin="ya")
    assert refused.status_code == 409 and "Undangan belum dapat diluncurkan" in refused.text
    assert _outbox(session) == 0


def test_launch_enqueues_the_sampled_invitations_once(launchable: Launchable, client: TestClient,
                                                      session: Session) -> None:
    cid = launchable.campaign.id
    _as(client, "pic.l")
    konfirmasi = client.get(f"/pic/c/{cid}/luncurkan/konfirmasi").text
    assert "<b>7</b> undangan akan diantrekan: 5 lewat WhatsApp dan 2 lewat email" in konfirmasi
    unticked = _launch(client, cid)
    assert unticked.status_code == 422 and "Centang kotak konfirmasi" in unticked.text
    assert _outbox(session) == 0

    first = _launch(client, cid, yakin="ya")
    assert first.status_code == 303 and first.headers["location"] == f"/pic/c/{cid}/luncurkan?ok=luncur&n=7"
    assert _outbox(session, cid) == 7 == _outbox(session)
    rows = session.exec(select(Outbox)).all()
    assert sorted(r.channel for r in rows) == ["email"] * 2 + ["whatsapp"] * 5
    assert {(r.purpose, r.wave, r.status) for r in rows} == {("invitation", 1, "pending")}
    wave = session.exec(select(Wave)).one()
    assert (wave.key, wave.enqueued, wave.actor) == (f"c{cid}:invitation", 7, "pic.l")
    audits = {(a.action, a.actor) for a in session.exec(select(AuditLog))}
    assert {("dispatch.invitations", "pic.l"), ("monitor.launch", "pic.l")} <= audits

    page = client.get(first.headers["location"]).text
    assert "7 undangan diantrekan dan mulai dikirim" in page
    assert 'id="h-pengiriman">Pengiriman<' in page and "Jeda pengiriman" in page
    assert "Semua undangan sudah diantrekan; tidak ada undangan baru untuk dikirim." in page
    assert "Sudah diantrekan sebelumnya: 7 undangan" in page

    again = _launch(client, cid, yakin="ya")  # a second click (or a replayed form)
    assert again.headers["location"] == f"/pic/c/{cid}/luncurkan?ok=luncur&n=0"
    assert _outbox(session) == 7
    assert "Tidak ada undangan baru" in client.get(again.headers["location"]).text
    assert session.exec(select(Wave)).one().enqueued == 7


def test_no_sample_is_refused_with_its_reason(launchable: Launchable, client: TestClient, session: Session) -> None:
    cid = launchable.empty.id
    text = _as(client, "pic.l").get(f"/pic/c/{cid}/luncurkan").text
    assert "0 responden: belum ada sampel" in text and "disabled" in text
    refused = _launch(client, cid, yakin="ya")
    assert refused.status_code == 409 and "0 responden: belum ada sampel" in refused.text
    assert _outbox(session) == 0


def test_closed_campaign_is_refused(launchable: Launchable, client: TestClient, session: Session) -> None:
    launchable.campaign.status = "closed"
    session.add(launchable.campaign)
    session.commit()
    cid = launchable.campaign.id
    text = _as(client, "pic.l").get(f"/pic/c/{cid}/luncurkan").text
    assert "✗ Kampanye sudah ditutup" in text and "Kampanye sudah ditutup: undangan tidak dikirim lagi." in text
    refused = _launch(client, cid, yakin="ya")
    assert refused.status_code == 409 and "sudah ditutup" in refused.text
    assert _outbox(session) == 0


def test_viewer_sees_the_page_but_cannot_launch(launchable: Launchable, client: TestClient,
                                               session: Session) -> None:
    cid = launchable.campaign.id
    text = _as(client, "viewer.l").get(f"/pic/c/{cid}/luncurkan").text
    assert "✓ Sampel: 8 responden aktif." in text and "Luncurkan undangan" not in text
    assert "Hanya PIC atau admin yang dapat meluncurkan undangan." in text
    assert client.get(f"/pic/c/{cid}/luncurkan/konfirmasi").status_code == 403
    assert _launch(client, cid, yakin="ya").status_code == 403
    assert _outbox(session) == 0


def test_another_institutions_campaign_is_not_found(launchable: Launchable, client: TestClient,
                                                    session: Session) -> None:
    cid = launchable.other.id
    _as(client, "pic.l")
    assert client.get(f"/pic/c/{cid}/luncurkan").status_code == 404
    csrf = csrf_of(client, f"/pic/c/{launchable.campaign.id}/luncurkan")
    reply = client.post(f"/pic/c/{cid}/luncurkan", data={"csrf": csrf, "yakin": "ya"}, follow_redirects=False)
    assert reply.status_code == 404 and _outbox(session) == 0


# --- in the browser ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_pic_adds_a_counter_then_launches(launchable: Launchable, live_app: Any, page: Any, session: Session,
                                         request: pytest.FixtureRequest) -> None:
    from playwright.sync_api import expect

    from tests.monitor.test_browser import _login, _shot

    base, cid = live_app.url, launchable.campaign.id
    _login(page, base, "pic.l")
    page.goto(f"{base}/pic/c/{cid}")
    page.get_by_role("link", name="Loket & poster").click()
    page.get_by_label("Unit kerja").select_option(label=page.locator("#unit option").nth(1).inner_text())
    page.get_by_label("Nama loket").fill("Loket Prioritas")
    page.get_by_label("Rata-rata pengunjung per hari").fill("80")
    page.get_by_role("button", name="Tambah loket").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("Loket Prioritas di Dinas Perizinan ditambahkan")
    poster = page.get_by_role("link", name="Poster pendaftaran Loket Prioritas (PDF)")
    expect(poster).to_be_visible()
    assert "loket=Loket+Prioritas" in (poster.get_attribute("href") or "")
    _shot(page, request, "loket")

    page.get_by_role("link", name="Luncurkan", exact=True).click()
    expect(page.locator("#daftar-periksa")).to_contain_text("Sampel: 8 responden aktif")
    expect(page.locator("#rencana-kirim")).to_contain_text("WhatsApp: 5 undangan")
    page.get_by_role("button", name="Luncurkan undangan").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Luncurkan undangan?")).to_be_visible()
    page.get_by_label("Saya mengerti").check()
    _shot(page, request, "luncurkan-konfirmasi")
    page.get_by_role("button", name="Ya, luncurkan undangan").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("7 undangan diantrekan")
    expect(page.locator("#pengiriman").get_by_role("heading", name="Pengiriman")).to_be_visible()
    expect(page.get_by_role("button", name="Jeda pengiriman")).to_be_visible()
    _shot(page, request, "luncurkan-terkirim")
    assert _outbox(session, cid) == 7
