"""The PIC's "Sampel" page: the current draw's audit figures, sizes and per-unit allocation."""

from __future__ import annotations

import csv
import io

from sqlmodel import Session

from core.models import Person
from monitor.users import add_user
from population.sampling import call_reserve, draw_sample
from tests.factories import make_campaign, make_institution, make_unit
from tests.monitor.conftest import PASSWORD


def _setup(session: Session):  # type: ignore[no-untyped-def]
    inst = make_institution(session, name="Kabupaten Katingan", timezone="Asia/Makassar")
    units = [make_unit(session, inst, name=f"Dinas Sampel {i}", code=f"ds{i}") for i in range(2)]
    people = [Person(institution_id=inst.id, unit_id=u.id, group=g, name=f"{g} {u.code} {i}",
                     phone=f"+62813{u.id:03d}{n:02d}{i:04d}")
              for u in units for n, g in enumerate(("internal", "external", "vendor")) for i in range(30)]
    people += [Person(institution_id=inst.id, group="expert", name=f"Ahli {i}", criterion="Akademisi")
               for i in range(4)]
    session.add_all(people)
    campaign = make_campaign(session, inst)
    other = make_institution(session, name="Kabupaten Lain")
    add_user(session, login="pic.k", password=PASSWORD, role="pic", institution_id=inst.id, actor="test")
    add_user(session, login="pic.lain", password=PASSWORD, role="pic", institution_id=other.id, actor="test")
    session.commit()
    return campaign


def test_sample_page_shows_the_draw_audit_sizes_and_allocation(session: Session, as_user) -> None:  # type: ignore[no-untyped-def]
    campaign = _setup(session)
    client = as_user("pic.k")
    before = client.get(f"/pic/c/{campaign.id}/sampel")
    assert before.status_code == 200 and "Sampel belum ditarik" in before.text

    draw = draw_sample(session, campaign, seed=424242)
    assert call_reserve(session, campaign, "ds1", "external") is not None
    session.commit()
    page = client.get(f"/pic/c/{campaign.id}/sampel")
    assert page.status_code == 200, page.text
    text = page.text
    assert "424242" in text and draw.population_hash in text
    drawn = text.split("Ditarik", 1)[1][:80]
    assert "95,0% / 5,0%" in text and "WITA" in drawn and "WIB" not in drawn  # the institution's own zone
    assert "Dinas Sampel 0" in text and "Dinas Sampel 1" in text and "akademisi" in text

    export = client.get(f"/pic/c/{campaign.id}/sampel/export/alokasi.csv").text.lstrip("\ufeff")
    rows = {(r[0].split(" ")[0], r[1]): r for r in csv.reader(io.StringIO(export))}
    assert rows[("Eksternal", "ds1")][6] == "1" and rows[("Eksternal", "ds0")][6] == "0"  # the reserve just called up
    alloc = draw.allocations["internal"]["ds0"]
    assert rows[("Internal", "ds0")][3:7] == [str(alloc["population"]), str(alloc["sample"]),
                                              str(alloc["reserve"]), "0"]
    # the 4 listed experts, all chosen: fewer than the minimum of 10 (issue 24), not 3 per criterion
    assert rows[("Ahli", "akademisi")][4:] == ["4", "", "", ""]
    assert rows[("Internal", "ds0")][7] == "0"  # nobody unreachable yet

    assert as_user("pic.lain").get(f"/pic/c/{campaign.id}/sampel").status_code in (403, 404)


def test_pic_calls_up_reserves_invited_once_the_wave_ran(session: Session, as_user) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from core.audit import AuditLog
    from core.clock import utcnow
    from core.models import Assignment
    from dispatch.models import Outbox, Wave
    from dispatch.waves import invitation_wave_key
    from tests.monitor.conftest import csrf_of

    campaign = _setup(session)
    draw = draw_sample(session, campaign, seed=7)
    session.commit()
    reserve_ids = draw.allocations["internal"]["ds0"]["reserve_ids"]
    client = as_user("pic.k")
    page = client.get(f"/pic/c/{campaign.id}/sampel")
    assert "Panggil cadangan" in page.text
    csrf = csrf_of(client, f"/pic/c/{campaign.id}/sampel")
    url = f"/pic/c/{campaign.id}/sampel/cadangan"

    # Before the invitation wave: the reserve joins the sample; the wave will invite them.
    done = client.post(url, data={"csrf": csrf, "unit": "ds0", "group": "internal", "alasan": "menolak"})
    assert done.status_code == 200 and "Cadangan ke-1 unit ds0 dipanggil" in done.text
    assert "gelombang undangan" in done.text
    first = session.scalars(select(Assignment).where(Assignment.person_id == reserve_ids[0])).one()
    assert (first.kind, first.active, first.reserve_rank) == ("reserve", True, 1)
    assert session.scalars(select(Outbox)).first() is None

    # After the wave ran: the next reserve is invited at once, and only they are.
    session.add(Wave(key=invitation_wave_key(campaign.id), campaign_id=campaign.id, purpose="invitation",  # type: ignore[arg-type]
                     created_at=utcnow()))
    session.commit()
    done = client.post(url, data={"csrf": csrf, "unit": "ds0", "group": "internal", "alasan": "menolak"})
    assert "Cadangan ke-2" in done.text and "undangan sudah diantrekan" in done.text
    second = session.scalars(select(Assignment).where(Assignment.person_id == reserve_ids[1])).one()
    invited = session.scalars(select(Outbox.assignment_id).where(Outbox.purpose == "invitation")).all()
    assert invited == [second.id]
    assert len(session.scalars(select(AuditLog).where(AuditLog.action == "sample.reserve")).all()) == 2

    # The list runs out: said so, nothing more added; bad input is refused.
    for _ in reserve_ids[2:]:
        client.post(url, data={"csrf": csrf, "unit": "ds0", "group": "internal", "alasan": "menolak"})
    assert "sudah habis" in client.post(
        url, data={"csrf": csrf, "unit": "ds0", "group": "internal", "alasan": "menolak"}).text
    assert client.post(url, data={"csrf": csrf, "unit": "ds0", "group": "ahli", "alasan": "menolak"},
                       follow_redirects=False).status_code == 400
    assert client.post(url, data={"csrf": csrf, "unit": "tidak-ada", "group": "internal", "alasan": "menolak"},
                       follow_redirects=False).status_code == 404
    assert client.post(url, data={"unit": "ds0", "group": "internal"}, follow_redirects=False).status_code == 403


def test_cli_reserve(session: Session) -> None:
    from typer.testing import CliRunner

    from cli import app

    campaign = _setup(session)
    draw_sample(session, campaign, seed=7)
    session.commit()
    runner = CliRunner()
    ok = runner.invoke(app, ["reserve", "--campaign", str(campaign.id), "--unit", "ds1", "--group", "external"])
    assert ok.exit_code == 0 and "Cadangan ke-1 unit ds1" in ok.output
    bad = runner.invoke(app, ["reserve", "--campaign", str(campaign.id), "--unit", "ds1", "--group", "vendor"])
    assert bad.exit_code == 2 and "internal or external" in bad.output
    unknown = runner.invoke(app, ["reserve", "--campaign", str(campaign.id), "--unit", "zz", "--group", "internal"])
    assert unknown.exit_code == 2 and "zz" in unknown.output


def test_sample_page_counts_the_unreachable_per_unit_and_group(session: Session, as_user) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from core.models import Assignment, Unit
    from tests.monitor.conftest import add_outbox

    campaign = _setup(session)
    draw_sample(session, campaign, seed=11)
    ds0 = session.scalars(select(Unit).where(Unit.code == "ds0")).one()
    internal = session.scalars(select(Assignment).where(Assignment.unit_id == ds0.id,
                                                        Assignment.group == "internal")).all()
    external = session.scalars(select(Assignment).where(Assignment.unit_id == ds0.id,
                                                        Assignment.group == "vendor")).all()
    add_outbox(session, internal[0], status="failed", error_code="63024", error_class="permanent")  # lost
    add_outbox(session, internal[1], status="failed", error_code="63024", error_class="permanent")
    add_outbox(session, internal[1], channel="email", status="sent")  # reached by email: not lost
    add_outbox(session, external[0], status="failed", error_code="63024", error_class="permanent")  # a vendor
    session.commit()
    export = as_user("pic.k").get(f"/pic/c/{campaign.id}/sampel/export/alokasi.csv").text.lstrip("\ufeff")
    rows = {(r[0].split(" ")[0], r[1]): r for r in csv.reader(io.StringIO(export))}
    assert rows[("Internal", "ds0")][7] == "1"
    assert rows[("Eksternal", "ds0")][7] == "1"  # vendors are drawn with the external group
    assert rows[("Internal", "ds1")][7] == "0"
