"""The "Pengiriman" panel and the banner: pause, resume and cancel from the dashboard, scoped to the
PIC's own institution; held senders and templates shown in plain Indonesian, lifted by an admin.
(World: tests/monitor/conftest.py; institution A's campaign gets pending reminders here.)"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.audit import AuditLog
from core.config import reset_settings
from dispatch import holds
from dispatch.models import Hold, HoldScope, Outbox
from dispatch.service import enqueue_invitations
from tests.dispatch.helpers import campaign_with
from tests.monitor.conftest import World, add_outbox, csrf_of

SENDER = "whatsapp:+6281100000001"


@pytest.fixture
def waiting(world: World, session: Session, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Five pending reminders (wave 2) for institution A; a daily WhatsApp limit of 250."""
    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", "250")
    reset_settings()
    rows = [add_outbox(session, a, status="pending", purpose="reminder", wave=2)
            for a in world.a.assignments[:5]]
    session.commit()
    return rows


def _post(client: TestClient, url: str, csrf: str, **data: str) -> Any:
    return client.post(url, data={"csrf": csrf, **data}, follow_redirects=False)


def _holds(session: Session) -> set[tuple[str, str]]:
    session.rollback()  # a fresh snapshot: the app committed in its own session
    return {(h.scope, h.target) for h in session.exec(select(Hold))}


def test_panel_shows_plan_preview_and_nothing_paused(world: World, waiting: list[Any], as_user) -> None:
    client: TestClient = as_user("pic.a")
    page = client.get(f"/pic/c/{world.a.campaign.id}").text
    assert 'id="h-pengiriman">Pengiriman<' in page
    assert "Undangan terakhir terkirim ±" in page and "batas WhatsApp 250 nomor per 24 jam" in page
    assert "Gelombang berikutnya: undangan" in page and "Perkiraan biaya WhatsApp:" in page
    assert "pesan utilitas" in page or "0 pesan templat WhatsApp" in page
    assert "Tidak ada; pengiriman berjalan." in page
    assert "Jeda pengiriman" in page and "Batalkan pesan yang menunggu" in page
    live = client.get(f"/pic/c/{world.a.campaign.id}/live.json").json()["figures"]
    assert live["sending.plan"].startswith("Undangan terakhir terkirim ±")


def test_viewer_sees_the_panel_without_buttons_and_cannot_act(world: World, waiting: list[Any], as_user,
                                                              session: Session) -> None:
    client: TestClient = as_user("viewer.a")
    cid = world.a.campaign.id
    page = client.get(f"/pic/c/{cid}").text
    assert "Undangan terakhir terkirim" in page and "Jeda pengiriman" not in page
    csrf = csrf_of(client, f"/pic/c/{cid}")
    for action in ("jeda", "lanjutkan", "batalkan"):
        assert _post(client, f"/pic/c/{cid}/pengiriman/{action}", csrf, yakin="ya").status_code == 403
    assert client.get(f"/pic/c/{cid}/pengiriman/batalkan").status_code == 403
    assert not _holds(session)


def test_pause_and_resume_the_campaign_audited_as_the_user(world: World, waiting: list[Any], as_user,
                                                            session: Session) -> None:
    client: TestClient = as_user("pic.a")
    cid = world.a.campaign.id
    csrf = csrf_of(client, f"/pic/c/{cid}")
    response = _post(client, f"/pic/c/{cid}/pengiriman/jeda", csrf)
    assert response.status_code == 303 and response.headers["location"].startswith(f"/pic/c/{cid}?ok=jeda")
    assert _holds(session) == {(HoldScope.campaign, str(cid))}
    hold = session.exec(select(Hold)).one()
    assert hold.actor == "pic.a" and hold.code == "manual"
    page = client.get(response.headers["location"]).text
    assert "Pengiriman kampanye dijeda." in page  # the message after the redirect
    banner = f"Pengiriman kampanye {world.a.campaign.name} dijeda oleh pic.a"
    assert banner in page and ">Lanjutkan</button>" in page and "Jeda pengiriman" not in page
    assert banner in client.get(f"/pic/c/{cid}/unit").text  # on every page
    assert _post(client, f"/pic/c/{cid}/pengiriman/jeda", csrf).status_code == 303  # idempotent
    assert len(_holds(session)) == 1

    response = _post(client, f"/pic/c/{cid}/pengiriman/lanjutkan", csrf)
    assert response.status_code == 303 and not _holds(session)
    page = client.get(response.headers["location"]).text
    assert "dijeda oleh" not in page and "Pengiriman kampanye dilanjutkan" in page
    session.rollback()
    audit = list(session.exec(select(AuditLog).where(AuditLog.action.like("dispatch.%"))  # type: ignore[attr-defined]
                              .order_by(AuditLog.id)))  # type: ignore[arg-type]
    assert {(a.actor, a.target, a.institution_id) for a in audit} == {("pic.a", f"campaign:{cid}", world.a.inst.id)}
    assert (audit[0].action, audit[-1].action) == ("dispatch.hold", "dispatch.resume")
    assert all(r.status == "pending" for r in session.exec(select(Outbox).where(Outbox.status == "pending")))


def test_pause_one_wave(world: World, waiting: list[Any], as_user, session: Session) -> None:
    client: TestClient = as_user("pic.a")
    cid = world.a.campaign.id
    page = client.get(f"/pic/c/{cid}").text
    assert 'aria-label="Jeda gelombang 2"' in page and 'aria-label="Jeda gelombang 1"' in page
    csrf = csrf_of(client, f"/pic/c/{cid}")
    assert _post(client, f"/pic/c/{cid}/pengiriman/jeda", csrf, wave="2").status_code == 303
    assert _holds(session) == {(HoldScope.wave, holds.wave_target(cid, 2))}
    page = client.get(f"/pic/c/{cid}?ok=jeda&w=2").text
    assert "Gelombang 2 dijeda." in page and f"gelombang 2 kampanye {world.a.campaign.name} dijeda" in page
    assert 'aria-label="Lanjutkan gelombang 2"' in page
    assert _post(client, f"/pic/c/{cid}/pengiriman/jeda", csrf, wave="x").status_code == 400
    assert _post(client, f"/pic/c/{cid}/pengiriman/lanjutkan", csrf, wave="2").status_code == 303
    assert not _holds(session)


def test_other_institutions_pic_cannot_pause_resume_or_cancel(world: World, waiting: list[Any], as_user,
                                                               session: Session) -> None:
    client: TestClient = as_user("pic.b")
    cid = world.a.campaign.id
    csrf = csrf_of(client, f"/pic/c/{world.b.campaign.id}")
    for action in ("jeda", "lanjutkan", "batalkan"):
        assert _post(client, f"/pic/c/{cid}/pengiriman/{action}", csrf, yakin="ya").status_code == 404, action
    assert client.get(f"/pic/c/{cid}/pengiriman/batalkan").status_code == 404
    assert not _holds(session)
    session.rollback()
    assert len(list(session.exec(select(Outbox).where(Outbox.status == "pending")))) == 5
    # A's pause is not B's business: no banner for B, and B's own panel shows nothing paused
    holds.hold(session, HoldScope.campaign, str(cid), reason="test", code="manual", actor="pic.a")
    session.commit()
    page = client.get(f"/pic/c/{world.b.campaign.id}").text
    assert "dijeda oleh" not in page and "Tidak ada; pengiriman berjalan." in page
    assert world.a.inst.name not in page


def test_cancel_needs_the_confirmation_step(world: World, waiting: list[Any], as_user, session: Session) -> None:
    client: TestClient = as_user("pic.a")
    cid = world.a.campaign.id
    form = client.get(f"/pic/c/{cid}/pengiriman/batalkan")
    assert form.status_code == 200
    assert "<b>5</b> pesan masih menunggu" in form.text and "tidak akan dikirim" in form.text
    assert 'type="checkbox" id="yakin" name="yakin" value="ya" required' in form.text
    csrf = csrf_of(client, f"/pic/c/{cid}/pengiriman/batalkan")
    unconfirmed = _post(client, f"/pic/c/{cid}/pengiriman/batalkan", csrf)
    assert unconfirmed.status_code == 422 and "Centang kotak konfirmasi" in unconfirmed.text
    session.rollback()
    assert len(list(session.exec(select(Outbox).where(Outbox.status == "pending")))) == 5

    response = _post(client, f"/pic/c/{cid}/pengiriman/batalkan", csrf, yakin="ya")
    assert response.status_code == 303 and "ok=batal" in response.headers["location"]
    assert "5 pesan yang menunggu dibatalkan" in client.get(response.headers["location"]).text
    session.rollback()
    cancelled = list(session.exec(select(Outbox).where(Outbox.error_class == "cancelled")))
    assert len(cancelled) == 5 and all(r.status == "failed" for r in cancelled)
    audit = session.exec(select(AuditLog).where(AuditLog.action == "dispatch.cancel")).one()
    assert audit.actor == "pic.a" and audit.details == {"cancelled": 5}
    # The problems page says what happened (the latest failure per respondent and channel: a[3]'s
    # 63024 invitation is now its cancelled reminder; the others had been reached), and the units
    # are not asked to fix a cancelled contact.
    problems = client.get(f"/pic/c/{cid}/masalah").text
    assert "Dibatalkan oleh PIC" in problems and "4 kontak perlu diperbaiki" in problems


def test_admin_sees_and_lifts_a_sender_hold(world: World, as_user, client: TestClient,
                                             session: Session) -> None:
    holds.hold(session, HoldScope.sender, SENDER, code="template_setup",
               reason="the ContentSid is invalid (placeholder, or not this account's): HX000")
    session.commit()
    text = ("Pengiriman WhatsApp massal dihentikan sementara: templat pesan WhatsApp belum terpasang "
            "dengan benar; tidak ada pesan yang hilang. Admin telah diberi tahu.")

    pic = as_user("pic.a")
    page = pic.get(f"/pic/c/{world.a.campaign.id}").text
    assert text in page and "ContentSid" not in page and "Lanjutkan pengiriman" not in page
    assert text in page.split('id="h-pengiriman"')[1]  # also listed in the panel as paused
    csrf = csrf_of(pic, f"/pic/c/{world.a.campaign.id}")
    refused = _post(pic, "/pic/admin/pengiriman/lanjutkan", csrf, scope="sender", target=SENDER)
    assert refused.status_code == 403 and _holds(session)
    pic.cookies.clear()

    admin = as_user("admin")
    home = admin.get("/pic").text
    assert text in home and "template_setup: the ContentSid is invalid" in home and "Lanjutkan pengiriman" in home
    csrf = csrf_of(admin, "/pic")
    assert _post(admin, "/pic/admin/pengiriman/lanjutkan", csrf, scope="campaign",
                 target=str(world.a.campaign.id)).status_code == 400  # a PIC's pause: from the panel
    response = _post(admin, "/pic/admin/pengiriman/lanjutkan", csrf, scope="sender", target=SENDER,
                     next="/pic/admin/pengguna")
    assert response.status_code == 303 and response.headers["location"] == "/pic/admin/pengguna"
    assert not _holds(session)
    assert "dihentikan sementara" not in admin.get("/pic").text
    session.rollback()
    audit = session.exec(select(AuditLog).where(AuditLog.action == "dispatch.resume")).one()
    assert audit.actor == "admin" and audit.target == f"sender:{SENDER}"


def test_template_hold_and_other_campaigns_in_the_admin_banner(world: World, as_user,
                                                                session: Session) -> None:
    holds.hold(session, HoldScope.template, "invitation", code="rejected", reason="rejected by WhatsApp")
    holds.hold(session, HoldScope.campaign, str(world.b.campaign.id), code="manual", reason="x", actor="pic.b")
    session.commit()
    admin = as_user("admin")
    page = admin.get("/pic").text
    assert "Pesan WhatsApp dengan templat undangan ditahan: templat ditolak oleh WhatsApp" in page
    assert f"kampanye {world.b.campaign.name} ({world.b.inst.name}) dijeda oleh pic.b" in page
    assert page.count("Lanjutkan pengiriman") == 1  # the template; a campaign is resumed from its panel
    admin.cookies.clear()
    page = as_user("pic.a").get(f"/pic/c/{world.a.campaign.id}/unit").text
    assert "templat undangan ditahan" in page and "dijeda oleh pic.b" not in page


def test_every_sender_hold_reason_has_a_plain_indonesian_text() -> None:
    from dispatch.channels.base import Action
    from dispatch.channels.twilio.errors import CODES
    from monitor import sending

    texts = sending._texts()["sender"]
    reasons = {row.reason for row in CODES.values() if row.action is Action.hold}
    assert reasons and not reasons - set(texts)


@pytest.mark.parametrize(("code", "label"), [
    ("63049", "WhatsApp menahan pesan; dicoba lagi, lalu dikirim lewat email"),
    ("63032", "Dikirim lewat email (nomor tetap dapat dipakai)"),
    ("63018", "Menunggu kuota harian WhatsApp; dikirim otomatis"),
    ("63024", "Nomor tidak terdaftar di WhatsApp"),
    ("21211", "Nomor tidak valid"),
    ("21610", "Berhenti berlangganan (menolak pesan)"),
    ("63027", "Kesalahan pengaturan; pengiriman dijeda, tidak ada pesan yang hilang"),
])
def test_twilio_codes_reach_the_dashboard_only_as_neutral_reasons(code: str, label: str) -> None:
    """The adapter turns the code into a reason; the dashboard reads only the reason."""
    from dispatch.channels.twilio.errors import classify
    from monitor import problems

    err = classify(400, code, "")
    stored = "config" if err.error_class == "config" else err.reason  # holds keep rows pending as config
    assert problems.reason_label(problems.reason_key(stored)) == label


@pytest.mark.parametrize(("error_class", "label"), [
    ("deferred", "Menunggu kuota harian WhatsApp; dikirim otomatis"),
    ("marketing_limit", "WhatsApp menahan pesan; dicoba lagi, lalu dikirim lewat email"),
    ("fallback", "Dikirim lewat email (nomor tetap dapat dipakai)"),
    ("cancelled", "Dibatalkan oleh PIC"),
    ("config", "Kesalahan pengaturan; pengiriman dijeda, tidak ada pesan yang hilang"),
    ("not_whatsapp", "Nomor tidak terdaftar di WhatsApp"),
    ("no_mailbox", "Alamat email tidak ada"),
    ("mailbox_full", "Kotak surat penuh"),
])
def test_delivery_reasons_say_what_happens_now(error_class: str, label: str) -> None:
    from monitor import problems

    assert problems.reason_label(problems.reason_key(error_class)) == label


def test_fallback_and_cancelled_are_not_contacts_to_fix(world: World, session: Session) -> None:
    from monitor import pages, problems
    from tests.factories import make_assignment, make_person

    unit = world.a.units[0]
    cancelled, _ = make_assignment(session, world.a.campaign, make_person(session, unit))
    emailed, _ = make_assignment(session, world.a.campaign, make_person(session, unit))
    add_outbox(session, cancelled, status="failed", error_class="cancelled")
    add_outbox(session, emailed, status="failed", error_code="63032", error_class="fallback")
    session.commit()
    data = pages.delivery_problems(session, world.a.campaign, world.a.inst)
    reasons = {r[0]: r[2] for r in data.table("alasan").rows}  # type: ignore[union-attr]
    assert reasons == {"Nomor tidak terdaftar di WhatsApp": 5, "Dibatalkan oleh PIC": 1,
                       "Dikirim lewat email (nomor tetap dapat dipakai)": 1}
    contacts = data.table("kontak").rows  # type: ignore[union-attr]
    assert len(contacts) == 5 and {r[4] for r in contacts} == {"Nomor tidak terdaftar di WhatsApp"}
    # a cancelled message is no delivery failure; a WhatsApp refusal with no email reached is
    unreachable = problems.unreachable(session, world.a.campaign)
    assert unreachable is not None and sum(unreachable.values()) == 6


def test_the_send_plan_is_one_cached_projection_for_every_campaign(
    session: Session, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The portfolio's plan (a count of distinct waiting numbers over the whole outbox, ~0.3 s at
    national scale) is computed once per PLAN_SECONDS for every panel and live refresh; a
    campaign with nothing waiting says so without it."""
    from dispatch import limits
    from monitor import sending

    monkeypatch.setenv("WHATSAPP_DAILY_LIMIT", "1000")
    reset_settings()
    calls: list[int | None] = []
    real = limits.plan

    def counted(s: Session, **kw: Any) -> limits.Plan:
        calls.append(kw.get("campaign_id"))
        return real(s, **kw)

    monkeypatch.setattr(limits, "plan", counted)
    campaign, _, _, _ = campaign_with(session, 3, email=False)
    idle, _, _, _ = campaign_with(session, 0, email=False)
    enqueue_invitations(session, campaign.id)  # type: ignore[arg-type]
    session.commit()
    lines = [sending.plan_line(session, campaign, "Asia/Jakarta") for _ in range(3)]
    assert lines[0] == lines[1] == lines[2] and "3 nomor menunggu" in lines[0]
    assert calls == [None]  # one projection for three views
    assert sending.plan_line(session, idle, "Asia/Jakarta") == "Tidak ada undangan WhatsApp yang menunggu."
    assert calls == [None]
