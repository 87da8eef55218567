"""Posters of a campaign: routes, short links, the bundle and the CLI; every QR decoded."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.audit import AuditLog
from qr.models import ShortLink
from qr.posters import campaign_bundle, campaign_specs, resolve_short_link
from tests.factories import make_unit
from tests.qr.conftest import World
from tests.qr.helpers import decode_pdf, decode_png, decode_svg, pdf_text

BASE = "https://spi.test.example"
REG = f"{BASE}/daftar/KAB-KTG/DUKCAPIL"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    from web import create_app

    with TestClient(create_app()) as c:
        yield c


@pytest.mark.parametrize("ext", ["pdf", "png", "svg"])
def test_single_poster_routes_decode_to_the_registration_url(
    world: World, client: TestClient, ext: str
) -> None:
    reply = client.get(f"/qr/KAB-KTG/DUKCAPIL/poster.{ext}?loket=L2")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith({"pdf": "application/pdf", "png": "image/png",
                                                    "svg": "image/svg+xml"}[ext])
    decoded = {"pdf": lambda b: decode_pdf(b)[0], "png": decode_png,
               "svg": lambda b: decode_svg(b.decode())}[ext](reply.content)
    assert decoded == [f"{REG}?loket=L2"]


def test_tent_sticker_and_guestbook_posters(world: World, client: TestClient) -> None:
    tent = client.get("/qr/KAB-KTG/DUKCAPIL/poster.pdf?loket=L1&format=tent")
    assert decode_pdf(tent.content) == [[f"{REG}?loket=L1"] * 2]
    sticker = client.get("/qr/KAB-KTG/DUKCAPIL/poster.png?format=sticker")
    assert decode_png(sticker.content) == [REG]
    guest = client.get("/qr/KAB-KTG/DUKCAPIL/poster.pdf?jenis=guestbook")
    assert decode_pdf(guest.content) == [[f"{BASE}/bukutamu/KAB-KTG/DUKCAPIL"]]
    bare = client.get("/qr/KAB-KTG/DUKCAPIL/kode.png?loket=L1")
    assert decode_png(bare.content) == [f"{REG}?loket=L1"]


def test_poster_route_refuses_unknown_things(world: World, client: TestClient) -> None:
    for url in ["/qr/KAB-KTG/DUKCAPIL/poster.pdf?loket=L9", "/qr/KAB-KTG/NOPE/poster.pdf",
                "/qr/KAB-KTG/DUKCAPIL/poster.exe", "/qr/KAB-KTG/DUKCAPIL/poster.pdf?format=a0",
                "/qr/KAB-KTG/DUKCAPIL/poster.pdf?jenis=x", "/p/zzzzzzzz", "/p/AB%27--"]:
        assert client.get(url, follow_redirects=False).status_code == 404, url


def test_short_link_is_printed_stable_and_redirects(world: World, client: TestClient,
                                                     session: Session) -> None:
    first = client.get("/qr/KAB-KTG/DUKCAPIL/poster.pdf?loket=L1")
    again = client.get("/qr/KAB-KTG/DUKCAPIL/poster.pdf?loket=L1")
    session.expire_all()
    link = session.exec(select(ShortLink).where(ShortLink.counter == "L1")).one()
    short = f"{BASE}/p/{link.code}"
    assert short in pdf_text(first.content)[0] and short in pdf_text(again.content)[0]
    redirect = client.get(f"/p/{link.code}", follow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["location"] == f"{REG}?loket=L1"


def test_campaign_bundle_has_every_poster_and_decodes(world: World, session: Session) -> None:
    make_unit(session, world.institution, code="PTSP", name="DPMPTSP", counters=[])
    make_unit(session, world.institution, code="INSP", name="Inspektorat", serves_public=False)
    session.commit()
    specs = campaign_specs(session, world.campaign)
    expected = [f"{REG}?loket=L1", f"{REG}?loket=L2", f"{BASE}/bukutamu/KAB-KTG/DUKCAPIL",
                f"{BASE}/daftar/KAB-KTG/PTSP", f"{BASE}/bukutamu/KAB-KTG/PTSP"]
    assert [s.url for s in specs] == expected
    bundle = campaign_bundle(session, world.campaign.id)  # type: ignore[arg-type]
    assert bundle.count == 5
    assert decode_pdf(bundle.pdf) == [[url] for url in expected]
    with zipfile.ZipFile(io.BytesIO(bundle.zip)) as zf:
        names = zf.namelist()
        assert len(names) == 5
        assert [decode_png(zf.read(n)) for n in names] == [[url] for url in expected]
    for spec in specs:  # every short link printed resolves to the URL in the code
        assert resolve_short_link(session, spec.short_url.rsplit("/", 1)[1]) == spec.url


def test_cli_writes_pdf_and_zip(world: World, session: Session, tmp_path: Path) -> None:
    from cli import app

    result = CliRunner().invoke(app, ["qr", "posters", "--campaign", str(world.campaign.id),
                                      "--unit", "DUKCAPIL", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pdf = next(tmp_path.glob("*.pdf")).read_bytes()
    assert decode_pdf(pdf) == [[f"{REG}?loket=L1"], [f"{REG}?loket=L2"],
                               [f"{BASE}/bukutamu/KAB-KTG/DUKCAPIL"]]
    with zipfile.ZipFile(next(tmp_path.glob("*.zip"))) as zf:
        assert len(zf.namelist()) == 3
    session.expire_all()
    assert session.exec(select(AuditLog).where(AuditLog.action == "qr.posters")).one()


def test_cli_explains_bad_arguments(world: World, tmp_path: Path) -> None:
    from cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["qr", "posters", "--campaign", "999", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "Campaign 999 not found" in missing.output
    unit = runner.invoke(app, ["qr", "posters", "--campaign", str(world.campaign.id),
                               "--unit", "NOPE", "--out", str(tmp_path)])
    assert unit.exit_code == 2 and "Unit 'NOPE' not found" in unit.output
