"""The integrity page and the periodic check on one campaign in SQLite: time to flag (first run
and idempotent re-run), to build the dashboard page (stored flags, correction inputs, index with
and without flagged: cold, then from the cache) and to render it over HTTP, with the cached scores
and right after a reviewer's decision (scores recomputed).

    .venv/bin/python bench/integrity_page.py --responses 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        os.environ.update({"DATABASE_URL": url, "ENV": "test"})
        from core.config import reset_settings
        from core.db import session_scope
        from core.migrate import upgrade

        reset_settings()
        upgrade(url)
        from fastapi.testclient import TestClient

        from integrity.service import flag_campaign
        from monitor.integrity_page import build
        from monitor.users import add_user
        from tests.integrity.helpers import build_world
        from tests.monitor.conftest import PASSWORD, login
        from web import create_app

        t = time.perf_counter()
        with session_scope(write=True) as s:
            w = build_world(s, n=args.responses)
            add_user(s, login="admin", password=PASSWORD, role="admin", institution_id=None, actor="bench")
            cid, inst_id = w.campaign.id, w.institution.id
        print(f"setup: {args.responses} responses in {time.perf_counter() - t:.1f} s")
        for label in ("flag_campaign, first run", "flag_campaign, re-run (idempotent)"):
            t = time.perf_counter()
            with session_scope(write=True) as s:
                new = flag_campaign(s, cid)  # type: ignore[arg-type]
            print(f"{label}: {time.perf_counter() - t:.2f} s ({new} new reviews)")
        from core.models import Campaign, Institution

        with session_scope() as s:
            campaign, inst = s.get(Campaign, cid), s.get(Institution, inst_id)
            for label in ("cold: scores computed", "cached: same data version"):
                t = time.perf_counter()
                build(s, campaign, inst, page=0)  # type: ignore[arg-type]
                print(f"page data (build), {label}: {time.perf_counter() - t:.3f} s")
        from sqlmodel import select

        from integrity.models import Review
        from integrity.service import record_review

        with TestClient(create_app(), base_url="https://testserver") as client:
            login(client, "admin")
            times = []
            for _ in range(5):
                t = time.perf_counter()
                assert client.get(f"/pic/c/{cid}/integritas").status_code == 200
                times.append(time.perf_counter() - t)
            print(f"GET /pic/c/{{id}}/integritas: median {sorted(times)[2]:.3f} s over 5 (cached scores)")
            with session_scope() as s:
                rid = s.exec(select(Review.response_id).where(Review.campaign_id == cid)).first()
            from monitor.cache import CACHE

            times, stale = [], 0
            for i in range(5):
                with session_scope(write=True) as s:
                    record_review(s, int(rid), ("kept", "excluded")[i % 2], "bench")  # type: ignore[arg-type]
                t = time.perf_counter()
                page = client.get(f"/pic/c/{cid}/integritas")
                times.append(time.perf_counter() - t)
                assert page.status_code == 200
                stale += "sedang dihitung ulang" in page.text
                t = time.perf_counter()
                CACHE.wait_idle()
                refresh = time.perf_counter() - t + times[-1]
            print(f"GET /pic/c/{{id}}/integritas right after a review decision: median {sorted(times)[2]:.3f} s "
                  f"over 5; {stale} of 5 showed the previous index (labelled) while it was recomputed "
                  f"(last refresh done {refresh:.2f} s after the request)")

if __name__ == "__main__":
    main()
