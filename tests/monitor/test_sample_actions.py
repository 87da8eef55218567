"""The "Sampel" page's actions: the plan before the draw, the confirmed (idempotent) draw, reserves
called with a reason, and their undo before the invitation goes. Both backends (the `session`
fixture), one browser walk at the end."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.audit import AuditLog
from core.clock import utcnow
from core.models import Assignment, Campaign, Person
from dispatch.models import Outbox, Wave
from dispatch.waves import invitation_wave_key
from monitor.users import add_user
from population.models import SampleDraw
from population.plan import EXPERT_MINIMUM
from population.sampling import draw_sample
from population.selection import EXTERNAL_FALLBACK, allocate, sample_size
from tests.factories import make_campaign, make_institution
from tests.monitor.conftest import PASSWORD, csrf_of
from tests.monitor.test_sample_page import _setup


def _csv(client: Any, campaign: Campaign, table: str) -> dict[tuple[str, str], list[str]]:
    response = client.get(f"/pic/c/{campaign.id}/sampel/export/{table}.csv")
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    return {(r[0].split(" ")[0], r[1]): r for r in rows[1:]}


def _fresh(session: Session) -> Session:
    """The test's session, out of its read transaction (SQLite's WAL keeps a reader's snapshot)."""
    session.commit()
    session.expire_all()
    return session


def _count(session: Session, model: Any, *where: Any) -> int:
    _fresh(session)
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _drawn(session: Session, campaign: Campaign) -> Campaign:
    draw_sample(session, campaign, seed=5)
    session.commit()
    return campaign


def _invitation_wave(session: Session, campaign: Campaign) -> None:
    session.add(Wave(key=invitation_wave_key(campaign.id), campaign_id=campaign.id, purpose="invitation",  # type: ignore[arg-type]
                     created_at=utcnow()))
    session.commit()


def _call(client: Any, campaign: Campaign, csrf_page: str = "", **form: str) -> Any:
    csrf = csrf_of(client, csrf_page or f"/pic/c/{campaign.id}/sampel")
    return client.post(f"/pic/c/{campaign.id}/sampel/cadangan", data={"csrf": csrf, **form}, follow_redirects=False)


def test_plan_before_the_draw_has_the_sizes_of_the_selection(session: Session, as_user: Any) -> None:
    campaign = _setup(session)  # per unit ds0, ds1: 30 internal, 30 external, 30 vendors; 4 experts
    client = as_user("pic.k")
    page = client.get(f"/pic/c/{campaign.id}/sampel")
    assert page.status_code == 200, page.text
    assert "Rencana sampel" in page.text and "Sampel belum ditarik" in page.text
    assert "Tarik sampel" in page.text
    assert f"minimal {EXPERT_MINIMUM} ahli" in page.text  # 4 experts cannot make 10

    sizes = _csv(client, campaign, "rencana")
    n_int, n_ext = sample_size(60), sample_size(120)
    assert sizes[("Internal", "60")][2] == str(n_int)
    assert sizes[("Eksternal", "120")][2] == str(n_ext)
    assert sizes[("Eksternal", "120")][4] == str(max(n_ext, EXTERNAL_FALLBACK))
    # 3 per criterion would give 3; below the minimum of 10 the draw takes every listed expert (issue 24)
    assert sizes[("Ahli", "4")][2:] == ["4", "", str(EXPERT_MINIMUM)]
    units = _csv(client, campaign, "rencana-unit")
    shares = allocate(n_int, {"ds0": 30, "ds1": 30})
    assert [units[("Internal", c)][4] for c in ("ds0", "ds1")] == [str(shares["ds0"]), str(shares["ds1"])]
    ext = allocate(n_ext, {"ds0": 60, "ds1": 60})
    assert units[("Eksternal", "ds1")][3:5] == ["60", str(ext["ds1"])]

    # The hash on the page is the one the draw records.
    shown = re.search(r'<code class="hash">([0-9a-f]{64})</code>', page.text)
    assert shown
    assert draw_sample(session, campaign, seed=1).population_hash == shown.group(1)


def test_confirmed_draw_happens_once_with_the_pic_as_actor(session: Session, as_user: Any) -> None:
    campaign = _setup(session)
    client = as_user("pic.k")
    confirm = client.get(f"/pic/c/{campaign.id}/sampel/tarik")
    assert confirm.status_code == 200, confirm.text
    assert "Tarik sampel sekarang?" in confirm.text and "populasi tidak bisa diganti" in confirm.text
    found = re.search(r'name="population_hash" value="([0-9a-f]{64})"', confirm.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', confirm.text)
    assert found and csrf
    form = {"csrf": csrf.group(1), "population_hash": found.group(1)}
    url = f"/pic/c/{campaign.id}/sampel/tarik"

    done = client.post(url, data=form)
    assert done.status_code == 200 and "Sampel berhasil ditarik" in done.text
    assert found.group(1) in done.text and "oleh pic.k" in done.text and "Seed" in done.text
    drawn = _count(session, Assignment, Assignment.campaign_id == campaign.id)
    assert drawn > 0

    again = client.post(url, data=form)  # the same confirmation once more
    assert again.status_code == 200 and "sudah ditarik sebelumnya" in again.text
    assert _count(session, Assignment, Assignment.campaign_id == campaign.id) == drawn
    assert _count(session, SampleDraw, SampleDraw.campaign_id == campaign.id) == 1
    audits = _fresh(session).scalars(select(AuditLog).where(AuditLog.action == "sample.draw")).all()
    assert [(a.actor, a.details["population_hash"]) for a in audits] == [("pic.k", found.group(1))]
    # The confirmation page of a drawn campaign leads back to the draw.
    assert "sudah ditarik" in client.get(url).text


def test_changed_population_is_confirmed_again(session: Session, as_user: Any) -> None:
    campaign = _setup(session)
    client = as_user("pic.k")
    confirm = client.get(f"/pic/c/{campaign.id}/sampel/tarik").text
    old = re.search(r'name="population_hash" value="([0-9a-f]{64})"', confirm)
    assert old
    session.add(Person(institution_id=campaign.institution_id, group="expert", name="Ahli Baru", criterion="Tokoh"))
    session.commit()
    csrf = csrf_of(client, f"/pic/c/{campaign.id}/sampel")
    refused = client.post(f"/pic/c/{campaign.id}/sampel/tarik", data={"csrf": csrf, "population_hash": old.group(1)})
    assert refused.status_code == 409 and "Data populasi berubah" in refused.text
    assert old.group(1) not in refused.text  # the new hash is shown for the new confirmation
    assert _count(session, SampleDraw, SampleDraw.campaign_id == campaign.id) == 0


def test_draw_refused_without_eligible_population(session: Session, as_user: Any) -> None:
    inst = make_institution(session, name="Kabupaten Kosong")
    campaign = make_campaign(session, inst)
    add_user(session, login="pic.kosong", password=PASSWORD, role="pic", institution_id=inst.id, actor="test")
    session.commit()
    client = as_user("pic.kosong")
    page = client.get(f"/pic/c/{campaign.id}/sampel")
    assert "belum ada populasi eligible" in page.text and "Tarik sampel</button>" not in page.text
    confirm = client.get(f"/pic/c/{campaign.id}/sampel/tarik")
    assert confirm.status_code == 409 and "Sampel belum bisa ditarik" in confirm.text
    csrf = csrf_of(client, f"/pic/c/{campaign.id}/sampel")
    refused = client.post(f"/pic/c/{campaign.id}/sampel/tarik", data={"csrf": csrf, "population_hash": "0" * 64})
    assert refused.status_code == 409 and "Sampel belum bisa ditarik" in refused.text
    assert _count(session, SampleDraw, SampleDraw.campaign_id == campaign.id) == 0


def test_reserve_reason_goes_to_the_audit_log_and_the_list(session: Session, as_user: Any) -> None:
    campaign = _drawn(session, _setup(session))
    client = as_user("pic.k")
    form = client.get(f"/pic/c/{campaign.id}/sampel/cadangan?unit=ds1&group=external")
    assert form.status_code == 200 and "Nomor tidak aktif" in form.text and "Pindah tugas" in form.text

    assert _call(client, campaign, unit="ds1", group="external").status_code == 422  # no reason
    missing = _call(client, campaign, unit="ds1", group="external", alasan="lainnya")
    assert missing.status_code == 422 and "keterangan" in missing.text
    done = _call(client, campaign, unit="ds1", group="external", alasan="lainnya",
                 keterangan="Sudah pensiun, nomor 081234567890")
    assert done.status_code == 303
    entry = _fresh(session).scalars(select(AuditLog).where(AuditLog.action == "sample.reserve")).one()
    assert entry.actor == "pic.k" and entry.details["reason"] == "lainnya"
    assert entry.details["note"].startswith("Sudah pensiun") and "081234567890" not in entry.details["note"]
    assignment = session.get(Assignment, entry.details["assignment"])
    assert assignment is not None and assignment.kind == "reserve"

    page = client.get(f"/pic/c/{campaign.id}/sampel").text
    listed = page.split("Cadangan dipanggil", 1)[1]
    assert "Dinas Sampel 1 (ds1)" in listed and "Lainnya: Sudah pensiun" in listed
    assert "Menunggu gelombang undangan" in listed and "Batalkan</button>" in listed


def test_undo_before_the_invitation_goes_restores_the_sample(session: Session, as_user: Any) -> None:
    campaign = _drawn(session, _setup(session))
    _invitation_wave(session, campaign)  # a reserve called now is invited at once
    first = session.scalars(select(SampleDraw)).one().allocations["internal"]["ds0"]["reserve_ids"][0]
    client = as_user("pic.k")
    assert _call(client, campaign, unit="ds0", group="internal", alasan="pindah_tugas").status_code == 303
    reserve_id = _fresh(session).scalars(select(Assignment.id).where(Assignment.person_id == first)).one()
    assert _count(session, Outbox, Outbox.assignment_id == reserve_id, Outbox.status == "pending") == 1
    before = _csv(client, campaign, "alokasi")[("Internal", "ds0")][6]
    assert before == "1"

    csrf = csrf_of(client, f"/pic/c/{campaign.id}/sampel")
    undone = client.post(f"/pic/c/{campaign.id}/sampel/cadangan/{reserve_id}/batalkan", data={"csrf": csrf})
    assert undone.status_code == 200, undone.text
    assert "Pemanggilan cadangan ke-1 unit ds0 dibatalkan; 1 pesan" in undone.text
    assert _count(session, Outbox, Outbox.assignment_id == reserve_id, Outbox.status == "pending") == 0
    assert _count(session, Outbox, Outbox.assignment_id == reserve_id, Outbox.error_class == "cancelled") == 1
    assert _count(session, Assignment, Assignment.person_id == first) == 0
    assert _csv(client, campaign, "alokasi")[("Internal", "ds0")][6] == "0"
    undo = _fresh(session).scalars(select(AuditLog).where(AuditLog.action == "sample.reserve.undo")).one()
    assert undo.actor == "pic.k" and undo.details["cancelled"] == 1
    assert "Belum ada cadangan yang dipanggil" in undone.text

    # The reserve is back at their place: the next call takes them again.
    assert "r=1" in _call(client, campaign, unit="ds0", group="internal", alasan="menolak").headers["location"]
    assert _count(session, Assignment, Assignment.person_id == first, Assignment.reserve_rank == 1) == 1


def test_undo_after_the_invitation_went_is_refused(session: Session, as_user: Any) -> None:
    campaign = _drawn(session, _setup(session))
    _invitation_wave(session, campaign)
    client = as_user("pic.k")
    assert _call(client, campaign, unit="ds0", group="internal", alasan="nomor_tidak_aktif").status_code == 303
    row = _fresh(session).scalars(select(Outbox)).one()
    row.status, row.sent_at = "sent", utcnow()
    session.commit()
    page = client.get(f"/pic/c/{campaign.id}/sampel").text
    assert "Batalkan</button>" not in page.split("Cadangan dipanggil", 1)[1]
    assert "Terkirim" in page.split("Cadangan dipanggil", 1)[1]

    csrf = csrf_of(client, f"/pic/c/{campaign.id}/sampel")
    refused = client.post(f"/pic/c/{campaign.id}/sampel/cadangan/{row.assignment_id}/batalkan", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "tidak bisa dibatalkan: undangan untuk cadangan ini sudah dikirim" in refused.text
    assert _count(session, Assignment, Assignment.id == row.assignment_id) == 1
    assert _count(session, Outbox, Outbox.status == "sent") == 1
    assert _count(session, AuditLog, AuditLog.action == "sample.reserve.undo") == 0


def test_viewer_cannot_act_and_other_institutions_get_404(session: Session, as_user: Any) -> None:
    campaign = _setup(session)
    add_user(session, login="viewer.k", password=PASSWORD, role="viewer", institution_id=campaign.institution_id,
             actor="test")
    session.commit()
    base = f"/pic/c/{campaign.id}/sampel"

    viewer = as_user("viewer.k")
    page = viewer.get(base)
    assert page.status_code == 200 and "Rencana sampel" in page.text and "Tarik sampel</button>" not in page.text
    csrf = csrf_of(viewer, base)
    assert viewer.get(f"{base}/tarik").status_code == 403
    assert viewer.post(f"{base}/tarik", data={"csrf": csrf, "population_hash": "x"}).status_code == 403
    assert _count(session, SampleDraw) == 0
    _drawn(session, campaign)
    reserve = _call(as_user("pic.k"), campaign, unit="ds0", group="internal", alasan="menolak")
    assert reserve.status_code == 303
    reserve_id = _fresh(session).scalars(select(Assignment.id).where(Assignment.kind == "reserve")).one()

    viewer = as_user("viewer.k")
    csrf = csrf_of(viewer, base)
    assert "Panggil cadangan</button>" not in viewer.get(base).text
    assert viewer.get(f"{base}/cadangan?unit=ds0&group=internal").status_code == 403
    assert _call(viewer, campaign, unit="ds0", group="internal", alasan="menolak").status_code == 403
    assert viewer.post(f"{base}/cadangan/{reserve_id}/batalkan", data={"csrf": csrf}).status_code == 403

    other = as_user("pic.lain")
    csrf = csrf_of(other, "/pic")
    assert other.get(base).status_code == 404
    assert other.get(f"{base}/tarik").status_code == 404
    assert other.post(f"{base}/tarik", data={"csrf": csrf, "population_hash": "x"}).status_code == 404
    assert other.get(f"{base}/cadangan?unit=ds0&group=internal").status_code == 404
    assert _call(other, campaign, "/pic", unit="ds0", group="internal", alasan="menolak").status_code == 404
    assert other.post(f"{base}/cadangan/{reserve_id}/batalkan", data={"csrf": csrf}).status_code == 404
    assert _count(session, Assignment, Assignment.kind == "reserve") == 1

    # A reserve id of another campaign is not found here either.
    pic = as_user("pic.k")
    csrf = csrf_of(pic, base)
    assert pic.post(f"{base}/cadangan/999999/batalkan", data={"csrf": csrf}).status_code == 404


@pytest.mark.browser
@pytest.mark.slow
def test_pic_sees_the_plan_confirms_the_draw_and_sees_the_audit(
    session: Session, live_app: Any, page: Any, request: pytest.FixtureRequest,
) -> None:
    from playwright.sync_api import expect

    from tests.monitor.test_browser import _login, _shot

    campaign = _setup(session)
    _login(page, live_app.url, "pic.k")
    page.goto(f"{live_app.url}/pic/c/{campaign.id}/sampel")
    expect(page.get_by_role("heading", name="Rencana sampel")).to_be_visible()
    expect(page.locator("#tabel-rencana")).to_contain_text(str(sample_size(60)))
    expect(page.locator("#peringatan-sampel")).to_contain_text(f"minimal {EXPERT_MINIMUM} ahli")
    _shot(page, request, "sampel-rencana")

    page.get_by_role("button", name="Tarik sampel").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Tarik sampel sekarang?")).to_be_visible()
    hash_text = page.locator("#hash-konfirmasi").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_text)
    _shot(page, request, "sampel-konfirmasi")
    page.get_by_role("button", name="Ya, tarik sampel sekarang").click()
    page.wait_for_load_state()

    expect(page.get_by_role("status")).to_contain_text("Sampel berhasil ditarik")
    audit = page.locator("#audit-sampel")
    expect(audit).to_contain_text(hash_text)
    expect(audit).to_contain_text("oleh pic.k")
    expect(page.locator("#tabel-alokasi")).to_contain_text("Dinas Sampel 0")
    expect(page.get_by_role("heading", name="Rencana sampel")).to_have_count(0)
    _shot(page, request, "sampel-ditarik")
