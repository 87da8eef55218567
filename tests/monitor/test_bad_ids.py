"""A row id out of its column's range, or not a plain number, never reaches the database: 422
(before, 99999999999 came back from PostgreSQL as a 500)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.monitor.conftest import World


@pytest.mark.parametrize("raw", ["99999999999", "0", "-1", "¹", "1e3"])
def test_dashboard_ids_are_checked_before_the_database(world: World, as_user: Any, raw: str) -> None:
    admin = as_user("admin")
    for path in (f"/pic/c/{raw}", f"/pic/c/{raw}/unit", f"/laporan/{raw}"):
        response = admin.get(path)
        assert response.status_code in (404, 422), (path, response.status_code)


def test_an_id_in_range_still_works(world: World, as_user: Any) -> None:
    assert as_user("admin").get(f"/pic/c/{world.a.campaign.id}").status_code == 200
