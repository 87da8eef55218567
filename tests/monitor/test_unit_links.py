"""Units' own upload links (issue #20, step 1): the PIC gives a unit (OPD) its own link and contact
email; through `/unggah/<token>` the unit sends only its own rows (another unit's file is refused
with a message naming the unit and nothing is written), with the same preview → Simpan steps and
the same idempotency as the PIC's page; a revoked link, or one replaced by a new link, is 404; the
reminder before the deadline is enqueued once per unit and deadline, and never to a unit whose
file arrived. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from core.clock import utcnow
from core.config import reset_settings
from core.models import Campaign, Person, Unit
from dispatch.models import Outbox
from monitor.models import UnitUploadLink
from monitor.unit_links import remind_due
from monitor.users import add_user
from population import add_unit
from tests.factories import make_campaign, make_institution
from tests.monitor.conftest import PASSWORD, csrf_of, login

HEADER = ("No,Unit Kerja/ SKPD/ OPD,Nama Pegawai,Tanggal mulai bekerja di unit kerja,Jabatan,"
          "No. HP (WA) aktif,E-mail aktif")


@pytest.fixture(autouse=True)
def uploads_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    folder = tmp_path / "var"
    monkeypatch.setenv("DATA_DIR", str(folder))
    reset_settings()
    return folder


def staff_csv(unit: str, n: int, start: int = 0) -> bytes:
    lines = [HEADER] + [f"{i + 1},{unit},Pegawai {unit} {start + i},2015-01-0{1 + i % 9},Staf,"
                        f"0812{start + i:08d},pegawai{start + i}@contoh.go.id" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def setup(session: Session) -> tuple[Campaign, Unit, Unit]:
    inst = make_institution(session, name="Kabupaten Katingan")
    campaign = make_campaign(session, inst, opens_at=utcnow() - timedelta(days=1),
                             closes_at=utcnow() + timedelta(days=40))
    health = add_unit(session, inst.id, "Dinas Kesehatan")  # type: ignore[arg-type]
    school = add_unit(session, inst.id, "Dinas Pendidikan")  # type: ignore[arg-type]
    add_user(session, login="pic.k", password=PASSWORD, role="pic", institution_id=inst.id, actor="test")
    session.commit()
    return campaign, health, school


def people(session: Session, unit: Unit) -> int:
    session.rollback()
    return session.scalar(sa_select(func.count()).select_from(Person).where(Person.unit_id == unit.id)) or 0  # type: ignore[arg-type]


def give(client: TestClient, campaign: Campaign, unit: Unit, email: str, deadline: str) -> str:
    """Set the unit's email, give it a link; returns the link's path as the PIC's page shows it."""
    page = f"/pic/c/{campaign.id}/data"
    assert client.post(f"{page}/unit/{unit.id}/kontak", data={"csrf": csrf_of(client, page), "email": email},
                       follow_redirects=False).status_code == 303
    made = client.post(f"{page}/unit/{unit.id}/tautan", data={"csrf": csrf_of(client, page), "batas": deadline},
                       follow_redirects=True)
    assert made.status_code == 200 and "Tautan unggah unit kerja dibuat" in made.text
    urls = re.findall(r'aria-label="Tautan unggah ' + re.escape(unit.name) + r'" value="([^"]+)"', made.text)
    assert len(urls) == 1
    return "/" + html.unescape(urls[0]).split("/", 3)[3]


def send(client: TestClient, path: str, name: str, content: bytes) -> Any:
    csrf = csrf_of(client, path)
    return client.post(f"{path}/berkas", data={"csrf": csrf}, files=[("berkas", (name, content, "text/csv"))],
                       follow_redirects=False)


def save(client: TestClient, path: str, response: Any) -> Any:
    assert response.status_code == 303, response.text[-2000:]
    preview = re.search(r"pratinjau=([A-Za-z0-9_-]+)", response.headers["location"])
    assert preview
    return client.post(f"{path}/simpan", data={"csrf": csrf_of(client, path), "pratinjau": preview.group(1)},
                       follow_redirects=False)


def test_a_units_link_takes_only_its_units_rows_and_saves_once(session: Session, db_url: str) -> None:
    from web import create_app

    campaign, health, school = setup(session)
    deadline = (utcnow() + timedelta(days=10)).date().isoformat()
    with TestClient(create_app(), base_url="https://testserver") as pic, \
            TestClient(create_app(), base_url="https://testserver") as unit:
        assert login(pic, "pic.k").status_code == 303
        path = give(pic, campaign, health, "Dinkes@Katingan.go.id", deadline)
        page = unit.get(path)
        assert page.status_code == 200 and "Dinas Kesehatan" in page.text
        assert page.headers["cache-control"] == "no-store"

        # another unit's file: refused, saying whose link this is; nothing written, nothing kept
        refused = send(unit, path, "pendidikan.csv", staff_csv("Dinas Pendidikan", 4))
        assert refused.status_code == 403
        assert "Dinas Pendidikan" in refused.text and "hanya untuk Dinas Kesehatan" in refused.text
        mixed = send(unit, path, "campur.csv",
                     staff_csv("Dinas Kesehatan", 3) + staff_csv("Dinas Pendidikan", 1)[len(HEADER) + 1:])
        assert mixed.status_code == 403 and "unit kerja lain" in mixed.text
        assert people(session, health) == 0 and people(session, school) == 0

        # its own file: preview, Simpan; Simpan again imports nothing
        own = staff_csv("DINAS KESEHATAN", 5)
        first = send(unit, path, "dinkes.csv", own)
        saved = save(unit, path, first)
        assert saved.status_code == 303 and "hasil=" in saved.headers["location"]
        assert "tersimpan" in unit.get(saved.headers["location"]).text
        assert people(session, health) == 5
        again = unit.post(f"{path}/simpan",
                          data={"csrf": csrf_of(unit, path),
                                "pratinjau": first.headers["location"].split("pratinjau=")[1].split("#")[0]},
                          follow_redirects=False)
        assert "ulang=1" in again.headers["location"] and people(session, health) == 5
        # the same file through a new upload: "no change"
        same = save(unit, path, send(unit, path, "dinkes-lagi.csv", own))
        assert "tidak ada perubahan" in unit.get(same.headers["location"]).text.lower()
        assert people(session, health) == 5 and people(session, school) == 0

        # a CSRF-less post from elsewhere is refused
        assert unit.post(f"{path}/berkas", files=[("berkas", ("x.csv", own, "text/csv"))]).status_code == 403

        # revoked: 404 for the page and the upload; a new link replaces the old one
        csrf = csrf_of(pic, f"/pic/c/{campaign.id}/data")
        assert pic.post(f"/pic/c/{campaign.id}/data/unit/{health.id}/tautan/cabut", data={"csrf": csrf},
                        follow_redirects=False).status_code == 303
        gone = unit.get(path)
        assert gone.status_code == 404 and "tidak berlaku" in gone.text and "text/html" in gone.headers["content-type"]
        assert send_no_csrf(unit, path).status_code == 404
        replaced = give(pic, campaign, health, "dinkes@katingan.go.id", deadline)
        latest = give(pic, campaign, health, "dinkes@katingan.go.id", deadline)
        assert replaced != latest and unit.get(replaced).status_code == 404 and unit.get(latest).status_code == 200
    session.rollback()
    stored = session.exec(select(UnitUploadLink)).all()
    assert all(len(link.token_hash) == 32 for link in stored)
    assert not any(latest.rsplit("/", 1)[1] in repr(link) for link in stored)  # only the hash is stored
    assert session.get(Unit, health.id).contact_email == "dinkes@katingan.go.id"  # type: ignore[union-attr]


def send_no_csrf(client: TestClient, path: str) -> Any:
    return client.post(f"{path}/berkas", files=[("berkas", ("x.csv", b"a,b\n", "text/csv"))])


def test_the_reminder_goes_once_per_unit_and_deadline_and_not_to_units_that_sent(session: Session, db_url: str) -> None:
    from web import create_app

    campaign, health, school = setup(session)
    deadline = utcnow() + timedelta(days=6)
    with TestClient(create_app(), base_url="https://testserver") as pic, \
            TestClient(create_app(), base_url="https://testserver") as unit:
        assert login(pic, "pic.k").status_code == 303
        health_link = give(pic, campaign, health, "dinkes@katingan.go.id", deadline.date().isoformat())
        school_link = give(pic, campaign, school, "disdik@katingan.go.id", deadline.date().isoformat())
        assert save(unit, health_link, send(unit, health_link, "dinkes.csv", staff_csv("Dinas Kesehatan", 3))
                    ).status_code == 303
    session.rollback()

    session.expire_all()  # the units were loaded by setup() before the app set their emails
    # 6 days before: outside the window (3 days, monitor/data/unit_links.yaml)
    assert remind_due(session, utcnow()) == {"due": 0, "enqueued": 0}
    # 2 days before: only the unit that has not sent
    at = deadline - timedelta(days=2)
    assert remind_due(session, at) == {"due": 1, "enqueued": 1}
    session.commit()
    assert remind_due(session, at + timedelta(hours=6)) == {"due": 1, "enqueued": 0}  # the scheduler again
    session.commit()
    rows = session.exec(select(Outbox)).all()
    assert [r.to_address for r in rows] == ["disdik@katingan.go.id"]
    row = rows[0]
    assert row.channel == "email" and row.campaign_id is None  # never counted in the campaign's figures
    assert "Dinas Pendidikan" in row.payload["subject"] and school_link in row.payload["text"]
    # after the deadline: nothing more
    assert remind_due(session, deadline + timedelta(days=1)) == {"due": 0, "enqueued": 0}
