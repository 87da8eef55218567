"""Role codes are never shown raw (issue #20): the header and the Pengguna table name a user's role
with its label from core/data/labels.yaml (`user_role`), not "pic", "admin" or "viewer"."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from core.labels import labels
from monitor.models import Role
from tests.monitor.conftest import World, login


def test_every_role_has_a_label() -> None:
    assert set(labels("user_role")) == {r.value for r in Role}


def test_header_and_users_table_show_role_labels(world: World, client: TestClient) -> None:
    assert login(client, "admin").status_code == 303
    page = client.get("/pic/admin/pengguna")
    assert page.status_code == 200
    assert "(Admin)" in page.text and "(admin)" not in page.text  # the header
    # each user's row: login, name, role
    roles = {login: role for login, _, role in re.findall(r"<td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>",
                                                          page.text)}
    assert roles["admin"] == "Admin" and roles["pic.a"] == "PIC" and roles["viewer.a"] == "Pemantau"
    client.cookies.clear()
    assert login(client, "pic.a").status_code == 303
    home = client.get(f"/pic/c/{world.a.campaign.id}")
    assert "PIC Katingan (PIC)" in home.text and "(pic)" not in home.text
