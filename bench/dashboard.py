"""Benchmark: dashboard pages on PostgreSQL with a national campaign loaded.

640 institutions x 30 units, 600,000 people and assignments (40% responded), 2,000,000 outbox rows
(several waves, WhatsApp and email, every status, failures with real error codes). Loaded with
INSERT ... SELECT generate_series into a database created for the run and dropped at the end.
Measures p95 per page for a PIC's institution and for the admin's national view, through the
real app (FastAPI TestClient: routing, auth, queries, templates).

    .venv/bin/python bench/dashboard.py [--pg postgresql://root@127.0.0.1:5432/test] [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

INSTITUTIONS, UNITS_PER, ASSIGNMENTS, OUTBOX = 640, 30, 600_000, 2_000_000

LOAD_SQL = [
    f"""INSERT INTO institution (id, code, name, kind, timezone, registration_enabled, created_at)
    SELECT g, 'INST' || g, 'Instansi ' || g, 'kabupaten',
           (ARRAY['Asia/Jakarta','Asia/Makassar','Asia/Jayapura'])[1 + g % 3], true, now()
    FROM generate_series(1, {INSTITUTIONS}) g""",
    f"""INSERT INTO unit (id, institution_id, code, name, serves_public, services, counters)
    SELECT g, 1 + (g - 1) / {UNITS_PER}, 'U' || g, 'Dinas ' || g, true, '[]'::json, '["L1","L2"]'::json
    FROM generate_series(1, {INSTITUTIONS * UNITS_PER}) g""",
    f"""INSERT INTO campaign (id, institution_id, year, name, opens_at, closes_at, status, config, created_at)
    SELECT g, g, 2026, 'SPI 2026', now() - interval '20 days', now() + interval '40 days', 'open',
           '{{}}'::json, now() FROM generate_series(1, {INSTITUTIONS}) g""",
    # person i belongs to unit 1 + (i-1) % units: people spread evenly over every unit
    f"""INSERT INTO person (id, institution_id, unit_id, "group", name, phone, email, non_asn, status,
                        flags, source, created_at)
    SELECT g, 1 + ((g - 1) % {INSTITUTIONS * UNITS_PER}) / {UNITS_PER}, 1 + (g - 1) % {INSTITUTIONS * UNITS_PER},
           (ARRAY['internal','internal','external','vendor','expert'])[1 + g % 5], 'Orang ' || g,
           '+62812' || lpad(g::text, 8, '0'), 'o' || g || '@contoh.go.id', false,
           CASE WHEN g % 9 = 0 THEN 'unusable' ELSE 'eligible' END, '[]'::json, 'import', now()
    FROM generate_series(1, {ASSIGNMENTS}) g""",
    """INSERT INTO assignment (id, campaign_id, person_id, unit_id, "group", kind, active, token_nonce,
                            token_hash, responded_at, created_at)
    SELECT p.id, p.institution_id, p.id, p.unit_id, p."group", 'sampled', true, md5(p.id::text),
           md5('t' || p.id::text) || md5('u' || p.id::text),
           CASE WHEN p.id % 5 < 2 THEN now() - (p.id % 15) * interval '1 day' END, now()
    FROM person p""",
    # outbox row g: assignment 1 + (g-1) % N, wave 1 + (g-1) / N
    f"""INSERT INTO outbox (id, key, lane, channel, purpose, wave, to_address, sender, tz, payload, status,
                        attempts, next_attempt_at, error_code, error_class, campaign_id, assignment_id,
                        unit_id, institution_id, created_at, updated_at, sent_at)
    SELECT g, 'k' || g, 1, CASE WHEN g % 10 = 0 THEN 'email' ELSE 'whatsapp' END,
           CASE WHEN g <= {ASSIGNMENTS} THEN 'invitation' ELSE 'reminder' END,
           1 + (g - 1) / {ASSIGNMENTS}, '+6281200000000', '', 'Asia/Jakarta', '{{}}'::json,
           (ARRAY['delivered','read','read','sent','failed','delivered','pending'])[1 + g % 7], 1,
           now(), CASE WHEN g % 7 = 4 THEN (ARRAY['63024','21211','552','21610'])[1 + g % 4] END,
           CASE WHEN g % 7 = 4 THEN 'permanent' END,
           a.campaign_id, a.id, a.unit_id, a.campaign_id, now() - (g % 18) * interval '1 day',
           now(), CASE WHEN g % 7 NOT IN (4, 6) THEN now() - (g % 18) * interval '1 day' END
    FROM generate_series(1, {OUTBOX}) g JOIN assignment a ON a.id = 1 + (g - 1) % {ASSIGNMENTS}""",
]


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=os.environ.get("SPIBOT_TEST_PG", "postgresql://root@127.0.0.1:5432/test"))
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="Keep the database (to investigate).")
    parser.add_argument("--reuse", default="", help="Measure a kept database instead of loading.")
    args = parser.parse_args()
    name = args.reuse or f"spibot_bench_dashboard_{os.getpid()}"
    if not args.reuse:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    os.environ.update({"DATABASE_URL": url, "ENV": "test", "PUBLIC_BASE_URL": "https://bench.example",
                       "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789"})
    try:
        run(url, args.runs, load=not args.reuse)
    finally:
        from core.db import dispose_engines

        dispose_engines()
        if args.keep or args.reuse:
            print(f"kept database {name}")
        else:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(url: str, runs: int, load: bool = True) -> None:
    from core.migrate import upgrade
    from monitor.snapshot import refresh_snapshots

    if load:
        upgrade(url)
        t0 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            for sql in LOAD_SQL:
                conn.execute(sql)  # type: ignore[arg-type]
            conn.execute("ANALYZE")
        print(f"load: {INSTITUTIONS} institutions, {ASSIGNMENTS:,} assignments, {OUTBOX:,} outbox rows "
              f"in {time.perf_counter() - t0:.1f} s")
        create_users()
    t0 = time.perf_counter()
    refresh_snapshots()
    print(f"national snapshot refresh (one grouped pass): {time.perf_counter() - t0:.2f} s")
    measure(runs)


def create_users() -> None:
    from core.db import session_scope
    from monitor.users import add_user

    with session_scope(write=True) as session:
        add_user(session, login="admin", password="bench-password-123", role="admin",
                 institution_id=None, actor="bench")
        add_user(session, login="pic", password="bench-password-123", role="pic", institution_id=321,
                 actor="bench")


def measure(runs: int) -> None:
    from fastapi.testclient import TestClient

    from web import create_app

    app = create_app()
    results: list[tuple[str, str, float, float]] = []
    print(f"{runs} requests per page after one warm-up", flush=True)
    for user in ("pic", "admin"):
        client = TestClient(app, base_url="https://testserver")
        page = client.get("/pic/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post("/pic/login", data={"login": user, "password": "bench-password-123", "csrf": csrf})
        paths = [f"/pic/c/321/{p}" for p in ("ringkasan", "unit", "masalah", "bot", "qr", "kualitas")]
        paths += ["/pic/c/321/live.json", "/pic/c/321/masalah/export/kontak.xlsx"]
        if user == "admin":
            paths = ["/pic", *paths]
        for path in paths:
            client.get(path)  # warm-up
            samples = []
            for _ in range(runs):
                t = time.perf_counter()
                response = client.get(path, follow_redirects=False)
                samples.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            results.append((user, path, statistics.median(samples), p95(samples)))
            print(f"{user:6} {path:45} median {results[-1][2]:7.1f} ms  p95 {results[-1][3]:7.1f} ms",
                  flush=True)


if __name__ == "__main__":
    main()
