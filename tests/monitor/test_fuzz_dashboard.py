"""Authenticated fuzzing of every dashboard route (issue #21), as an admin and as a PIC: logged in,
carrying the session cookie and the CSRF token, schemathesis sends generated requests to each
operation of /pic and fails on any 5xx.

Fixed budget: FUZZ_EXAMPLES derandomized examples per operation and role (repeatable in CI), on
one SQLite database with the dashboard's two-institution world, built once for the module. The
login/logout operations are left out (a fuzzed logout would end the session the others use);
test_auth and test_sessions cover them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from core.config import reset_settings
from core.db import get_engine
from monitor.auth import COOKIE
from web import create_app

FUZZ_EXAMPLES = 4
DASHBOARD = r"^/pic(/|$)"
NOT_FUZZED = r"^/pic/(login|logout)"
ROLES = ("admin", "pic.a")

app = create_app()
schema = (schemathesis.openapi.from_asgi("/api/openapi.json", app)
          .include(path_regex=DASHBOARD).exclude(path_regex=NOT_FUZZED))


@pytest.fixture(scope="module")
def logged_in(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, str]]]:
    """The world of tests.monitor.conftest in one SQLite database; {login: (cookie, csrf)}."""
    from sqlmodel import Session

    from monitor.users import add_user
    from tests.monitor.conftest import PASSWORD, _side, login

    folder = tmp_path_factory.mktemp("fuzz-dashboard")
    url = f"sqlite:///{folder / 'dash.db'}"
    shutil.copy(sqlite_template, folder / "dash.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        mp.setenv("DATA_DIR", str(folder / "var"))
        reset_settings()
        with Session(get_engine(url), expire_on_commit=False) as s:
            a, _ = _side(s, "Katingan"), _side(s, "Barito", n_units=2)
            add_user(s, login="admin", password=PASSWORD, role="admin", institution_id=None, actor="test")
            add_user(s, login="pic.a", password=PASSWORD, role="pic", institution_id=a.inst.id, actor="test")
            s.commit()
        sessions: dict[str, tuple[str, str]] = {}
        for user in ROLES:
            with TestClient(app, base_url="https://testserver") as client:
                assert login(client, user).status_code == 303
                cookie = client.cookies.get(COOKIE)
                page = client.get("/pic/admin/pengguna" if user == "admin" else "/pic/c/1/unit")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
                assert cookie and csrf, page.text[:300]
                sessions[user] = (cookie, csrf.group(1))
        yield sessions
        get_engine(url).dispose()
    reset_settings()


def test_every_dashboard_operation_is_fuzzed() -> None:
    paths = {op.path for op in (r.ok() for r in schema.get_all_operations())}  # type: ignore[union-attr]
    assert {"/pic", "/pic/c/{campaign_id}/{page}", "/pic/admin/pengguna"} <= paths, paths
    assert not any(p.startswith(("/pic/login", "/pic/logout")) for p in paths)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_dashboard_never_5xx(case: schemathesis.Case[Any], role: str,
                             logged_in: dict[str, tuple[str, str]]) -> None:
    cookie, csrf = logged_in[role]
    response = case.call(base_url="https://testserver", headers={"X-CSRF-Token": csrf},
                         cookies={COOKIE: cookie})
    assert response.status_code < 500, (role, case.method, case.formatted_path, response.status_code,
                                        response.text[:300])
    # still logged in: the fuzzing reached the routes, not the login redirect
    assert not response.headers.get("location", [""])[0].startswith("/pic/login"), (
        role, case.method, case.formatted_path)
