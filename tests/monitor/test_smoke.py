"""The thin path: a PIC logs in and sees per-unit counts of their own institution."""

from __future__ import annotations

from tests.monitor.conftest import World


def test_pic_sees_unit_counts(world: World, as_user) -> None:
    client = as_user("pic.a")
    home = client.get("/pic", follow_redirects=False)
    assert home.status_code == 303
    assert home.headers["location"] == f"/pic/c/{world.a.campaign.id}"
    page = client.get(f"/pic/c/{world.a.campaign.id}/unit")
    assert page.status_code == 200, page.text
    assert "Dinas Katingan 0" in page.text
    assert "Dinas Barito" not in page.text
