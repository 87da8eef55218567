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
    inst = make_institution(session, name="Kabupaten Katingan", timezone="Asia/Pontianak")
    units = [make_unit(session, inst, name=f"Dinas Sampel {i}", code=f"ds{i}") for i in range(2)]
    people = [Person(institution_id=inst.id, unit_id=u.id, group=g, name=f"{g} {u.code} {i}",
                     phone=f"+62813{u.id:03d}{n:02d}{i:04d}")
              for u in units for n, g in enumerate(("internal", "external", "vendor")) for i in range(30)]
    people += [Person(institution_id=inst.id, group="expert", name=f"Ahli {i}", criterion="Akademisi") for i in range(4)]
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
    assert "95% / 5%" in text and "WIB" not in text.split("Ditarik", 1)[1][:80]  # the institution's own zone
    assert "Dinas Sampel 0" in text and "Dinas Sampel 1" in text and "akademisi" in text

    export = client.get(f"/pic/c/{campaign.id}/sampel/export/alokasi.csv").text.lstrip("\ufeff")
    rows = {(r[0].split(" ")[0], r[1]): r for r in csv.reader(io.StringIO(export))}
    assert rows[("Eksternal", "ds1")][6] == "1" and rows[("Eksternal", "ds0")][6] == "0"  # the reserve just called up
    alloc = draw.allocations["internal"]["ds0"]
    assert rows[("Internal", "ds0")][3:7] == [str(alloc["population"]), str(alloc["sample"]), str(alloc["reserve"]), "0"]
    assert rows[("Ahli", "akademisi")][4:] == ["3", "", ""]

    assert as_user("pic.lain").get(f"/pic/c/{campaign.id}/sampel").status_code in (403, 404)
