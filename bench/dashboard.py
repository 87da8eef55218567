"""Benchmark: dashboard pages on PostgreSQL with a national campaign loaded.

640 institutions x 30 units, 600,000 people and assignments (40% responded), 2,000,000 outbox rows
(several waves, WhatsApp and email, every status, failures with real error codes), a submitted
response with full answers for every assignment that responded (240,000) and its link row, flags
(Review rows) on 5% of the responses with reviewers' decisions, 1,000,000 audit rows, 300,000 bot
intents with 800,000 conversation rows, and 30,000 QR registrations at counters. Every
10th institution's campaign closed yesterday (its score report is available). Loaded with
INSERT ... SELECT generate_series into a database created for the run (under a name of its own)
and dropped at the end.

Measures every page of the dashboard (monitor/ routes: campaign pages, integrity, score report,
national view, audit log, users) and its exports, for a PIC's institution and for the admin,
through the real app (FastAPI TestClient: routing, auth, queries, templates). Prints the first
(cold) request, median and p95; then the integrity page right after a reviewer's decision and
the score report right after correction points were entered (cached figures rebuilt).

    .venv/bin/python bench/dashboard.py [--pg postgresql://root@127.0.0.1:5432/test] [--pg-port 5432]
        [--runs 40] [--keep | --reuse NAME] [--only TEXT]
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
from bench._common import add_pg_arguments, pg_admin, unique_name  # noqa: E402

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
    SELECT g, g, 2026, 'SPI 2026', now() - interval '20 days',
           CASE WHEN g % 10 = 0 THEN now() - interval '1 day' ELSE now() + interval '40 days' END,
           CASE WHEN g % 10 = 0 THEN 'closed' ELSE 'open' END,
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
           decode(md5('t' || p.id::text) || md5('u' || p.id::text), 'hex'),
           CASE WHEN p.id % 5 < 2 THEN now() - (p.id % 15) * interval '1 day' END, now()
    FROM person p""",
    # a quarter of the external respondents (30,000) registered themselves at a counter (QR poster)
    """UPDATE assignment SET kind = 'participatory', counter = CASE WHEN id % 2 = 0 THEN 'L1' ELSE 'L2' END,
                          created_at = now() - (id % 19) * interval '1 day' - (id % 480) * interval '1 minute'
    WHERE "group" = 'external' AND id % 4 = 1""",
    # outbox row g: assignment 1 + (g-1) % N, wave 1 + (g-1) / N
    f"""INSERT INTO outbox (id, key, lane, channel, purpose, wave, to_address, sender, tz, payload, status,
                        attempts, next_attempt_at, error_code, error_class, campaign_id, assignment_id,
                        unit_id, institution_id, created_at, updated_at, sent_at)
    SELECT g, 'k' || g, 1, CASE WHEN g % 10 = 0 THEN 'email' ELSE 'whatsapp' END,
           CASE WHEN g <= {ASSIGNMENTS} THEN 'invitation' ELSE 'reminder' END,
           1 + (g - 1) / {ASSIGNMENTS}, '+6281200000000', '', 'Asia/Jakarta', '{{}}'::json,
           (ARRAY['delivered','read','read','sent','failed','delivered','pending'])[1 + g % 7], 1,
           now(), CASE WHEN g % 7 = 4 THEN (ARRAY['63024','21211','552','21610'])[1 + g % 4] END,
           CASE WHEN g % 7 = 4 THEN (ARRAY['not_whatsapp','invalid_address','mailbox_full','opted_out'])[1 + g % 4] END,
           a.campaign_id, a.id, a.unit_id, a.campaign_id, now() - (g % 18) * interval '1 day',
           now(), CASE WHEN g % 7 NOT IN (4, 6) THEN now() - (g % 18) * interval '1 day' END
    FROM generate_series(1, {OUTBOX}) g JOIN assignment a ON a.id = 1 + (g - 1) % {ASSIGNMENTS}""",
]

TEMPLATES = 997  # distinct answer sets per survey group; response i takes set i % TEMPLATES
AUDIT_ROWS = 1_000_000
SIGNALS = ("straight_lining", "too_fast", "near_identical", "identical_cluster", "burst_ip", "burst_device",
           "counter_burst", "odd_hours", "reminder_surge")  # integrity.signals.ALL_SIGNALS
FAQ_TOPICS = ("apa_spi", "kenapa_saya", "rahasia", "berapa_lama", "sampai_kapan", "penyelenggara")
AUDIT_ACTIONS = ["population.import", "sample.draw", "dispatch.wave", "monitor.export", "monitor.reminder",
                 "integrity.flag", "integrity.review", "qr.poster", "monitor.user", "campaign.close"]

# A submitted response for every assignment that responded (40%: 240,000), its link row, a flag
# (Review row) on 5% of them with the reviewer's decision on two thirds, and 1,000,000 audit rows
# over 60 days; the bot's intents and conversation log. Answer sets come from bench_answers
# (filled by answer_templates()).
RESPONSE_SQL = [
    f"""INSERT INTO response (id, campaign_id, institution_id, unit_id, "group", respondent_group,
                          questionnaire_year, status, answers, service_type, expert_group, source,
                          page_times, flagged, created_at, started_at, updated_at, submitted_at)
    SELECT a.id, a.campaign_id, a.campaign_id, a.unit_id, s.grp, a."group", 2024, 'submitted', t.answers,
           CASE WHEN s.grp = 'external' THEN CASE WHEN a."group" = 'vendor' THEN 'pbj' ELSE 'non_pbj' END END,
           CASE WHEN s.grp = 'expert' THEN CASE WHEN a.id % 2 = 0 THEN 'melekat' ELSE 'publik' END END,
           CASE WHEN a.id % 25 = 0 THEN 'capi' ELSE 'web' END, t.page_times, false,
           a.responded_at - interval '20 minutes', a.responded_at - interval '20 minutes',
           a.responded_at, a.responded_at
    FROM assignment a
    CROSS JOIN LATERAL (SELECT CASE WHEN a."group" = 'vendor' THEN 'external' ELSE a."group" END AS grp) s
    JOIN bench_answers t ON t.grp = s.grp AND t.k = a.id % {TEMPLATES}
    WHERE a.responded_at IS NOT NULL""",
    "INSERT INTO responselink (assignment_id, response_id) SELECT id, id FROM response",
    "SELECT setval(pg_get_serial_sequence('response', 'id'), (SELECT max(id) FROM response))",
    f"""INSERT INTO integrity_review (campaign_id, response_id, unit_id, signal, evidence, decision, reviewer,
                                  flagged_at, decided_at)
    SELECT r.campaign_id, r.id, r.unit_id,
           (ARRAY{list(SIGNALS)!r})[1 + (r.id / 20) % {len(SIGNALS)}],
           json_build_object('count', 4 + r.id % 5, 'unit_id', r.unit_id,
                             'members', json_build_array(r.id, r.id + 19200, r.id + 38400)),
           (ARRAY['pending','kept','excluded'])[1 + r.id % 3],
           CASE WHEN r.id % 3 > 0 THEN 'pic' || r.institution_id END,
           r.submitted_at + interval '1 hour', CASE WHEN r.id % 3 > 0 THEN r.submitted_at + interval '1 day' END
    FROM response r WHERE r.id % 20 = 1""",
    """UPDATE response r SET flagged = true, review_status = v.decision
    FROM integrity_review v WHERE v.response_id = r.id""",
    # WhatsApp bot: 300,000 intents (re-requests "Isi Survei", Tanya SPI topics, opt-outs) on
    # assignments, two conversation entries each, and 200,000 general entries (no institution) of
    # numbers that belong to people: 800,000 conversation rows.
    f"""INSERT INTO bot_intent_event (at, intent, outcome, topic, phone, institution_id, campaign_id, assignment_id)
    SELECT now() - (a.id % 19) * interval '1 day' - (a.id % 600) * interval '1 minute',
           (ARRAY['isi_survei','isi_survei','tanya_spi','stop','help'])[1 + a.id % 5],
           CASE WHEN a.id % 5 < 2 THEN (ARRAY['link','list','chosen','closed'])[1 + a.id % 4] END,
           CASE WHEN a.id % 5 = 2 THEN (ARRAY{list(FAQ_TOPICS)!r})[1 + a.id % {len(FAQ_TOPICS)}] END,
           '+62812' || lpad(a.id::text, 8, '0'), a.campaign_id, a.campaign_id, a.id
    FROM assignment a WHERE a.id % 2 = 0""",
    """INSERT INTO bot_conversation (at, phone, direction, body, intent, institution_id, message_sid)
    SELECT e.at + d.off * interval '2 seconds', e.phone, d.dir,
           CASE WHEN d.dir = 'in' THEN 'isi survei' ELSE 'Terima kasih. Berikut tautan survei Anda: [tautan]' END,
           e.intent, e.institution_id, 'SM' || e.id
    FROM bot_intent_event e CROSS JOIN (VALUES (0, 'in'), (1, 'out')) AS d(off, dir)""",
    """INSERT INTO bot_conversation (at, phone, direction, body, intent, institution_id)
    SELECT now() - (g % 19) * interval '1 day' - (g % 700) * interval '1 minute',
           '+62812' || lpad((1 + (g * 7) % 600000)::text, 8, '0'), CASE WHEN g % 2 = 0 THEN 'in' ELSE 'out' END,
           CASE WHEN g % 2 = 0 THEN 'halo' ELSE 'Pilih nomor survei Anda: 1. Instansi A 2. Instansi B' END,
           'help', NULL
    FROM generate_series(1, 200000) g""",
    f"""INSERT INTO auditlog (at, actor, action, institution_id, target, details)
    SELECT now() - (g % 5184000) * interval '1 second', 'pic' || (1 + g % {INSTITUTIONS}),
           (ARRAY{AUDIT_ACTIONS!r})[1 + (g / 7) % {len(AUDIT_ACTIONS)}], 1 + g % {INSTITUTIONS},
           'campaign:' || (1 + g % {INSTITUTIONS}), json_build_object('rows', g % 1000)
    FROM generate_series(1, {AUDIT_ROWS}) g""",
]


def answer_templates(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    """TEMPLATES answer sets per survey group (every scored item answered, as bench/scoring.py) with
    page times, into the table bench_answers."""
    import json
    from datetime import datetime, timedelta

    import numpy as np

    from responses.questionnaire import GROUPS, load_questionnaire

    rng = np.random.default_rng(8)
    conn.execute("CREATE TABLE bench_answers (grp text, k int, answers json, page_times json)")
    start = datetime(2026, 1, 5, 9, 0)
    with conn.cursor() as cur, cur.copy("COPY bench_answers FROM STDIN") as copy:
        for group in GROUPS:
            q = load_questionnaire(group, 2024)
            for k in range(TEMPLATES):
                answers: dict[str, object] = {}
                for item in q.items:
                    answers[item.id] = (("ya" if rng.random() < 0.1 else "tidak") if item.scale == "experience"
                                        else int(np.clip(np.rint(rng.normal(4.5, 1.2)), 1, 6)))
                times, t = {}, start
                for page in q.pages:
                    saved = t + timedelta(seconds=float(rng.uniform(30, 150)))
                    times[page.id] = {"shown": t.isoformat(), "saved": saved.isoformat()}
                    t = saved
                copy.write_row((group, k, json.dumps(answers), json.dumps(times)))


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    add_pg_arguments(parser, "--pg", "--pg-admin")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="Keep the database (to investigate).")
    parser.add_argument("--reuse", default="", help="Measure a kept database instead of loading.")
    parser.add_argument("--only", default="", help="Measure only the paths containing this text "
                        "('after': only the pages right after a data change).")
    args = parser.parse_args()
    admin = pg_admin(args)
    name = args.reuse or unique_name("spibot_bench_dashboard")
    if not args.reuse:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    os.environ.update({"DATABASE_URL": url, "ENV": "test", "PUBLIC_BASE_URL": "https://bench.example",
                       "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789"})
    try:
        run(url, args.runs, load=not args.reuse, only=args.only)
    finally:
        from core.db import dispose_engines

        dispose_engines()
        if args.keep or args.reuse:
            print(f"kept database {name}")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(url: str, runs: int, load: bool = True, only: str = "") -> None:
    from core.migrate import upgrade
    from monitor.snapshot import refresh_snapshots

    if load:
        upgrade(url)
        t0 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            for sql in LOAD_SQL:
                conn.execute(sql)  # type: ignore[arg-type]
            answer_templates(conn)
            for sql in RESPONSE_SQL:
                conn.execute(sql)  # type: ignore[arg-type]
            conn.execute("DROP TABLE bench_answers")
            conn.execute("ANALYZE")
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                      for t in ("response", "integrity_review", "auditlog", "bot_conversation")}
        print(f"load: {INSTITUTIONS} institutions, {ASSIGNMENTS:,} assignments, {OUTBOX:,} outbox rows, "
              f"{counts['response']:,} responses, {counts['integrity_review']:,} flags, "
              f"{counts['auditlog']:,} audit rows, {counts['bot_conversation']:,} bot conversation rows "
              f"in {time.perf_counter() - t0:.1f} s")
        create_users()
    t0 = time.perf_counter()
    refresh_snapshots()
    print(f"national snapshot refresh (one grouped pass): {time.perf_counter() - t0:.2f} s")
    measure(runs, only)


def create_users() -> None:
    from core.db import session_scope
    from monitor.users import add_user

    with session_scope(write=True) as session:
        add_user(session, login="admin", password="bench-password-123", role="admin",
                 institution_id=None, actor="bench")
        add_user(session, login="pic", password="bench-password-123", role="pic", institution_id=321,
                 actor="bench")
        add_user(session, login="pic320", password="bench-password-123", role="pic", institution_id=320,
                 actor="bench")


OPEN, CLOSED = "/pic/c/321", "/pic/c/320"  # institution 321's campaign is open, 320's closed yesterday
# (user, path, requests): every page of monitor/ routes, the campaign pages of an open and of a
# closed campaign (score report), the admin's national view and audit log, and the exports.
PAGES: list[tuple[str, str, int]] = [
    *[("pic", f"{OPEN}/{p}", 0) for p in ("ringkasan", "unit", "masalah", "bot", "qr", "kualitas",
                                           "integritas", "skor/laporan")],
    ("pic", f"{OPEN}/live.json", 0),
    ("pic", f"{OPEN}/masalah/export/kontak.xlsx", 0),
    ("pic", f"{OPEN}/unit/export/unit-internal.csv", 0),
    ("pic", f"{OPEN}/integritas/export/ditandai.csv", 0),
    ("pic", f"{OPEN}/kualitas/laporan.xlsx", 0),
    ("pic320", f"{CLOSED}/skor/laporan", 0),
    ("pic320", f"{CLOSED}/integritas", 0),
    ("pic320", f"{CLOSED}/ringkasan", 0),
    ("pic320", f"{CLOSED}/skor/laporan.xlsx", 0),
    ("pic320", f"{CLOSED}/skor/laporan.pdf", 0),
    ("pic", f"{OPEN}/qr/poster.pdf", 3),
    ("admin", "/pic", 0),
    ("admin", "/pic/admin/audit", 0),
    ("admin", "/pic/admin/audit?hal=200", 0),
    ("admin", "/pic/admin/audit?action=monitor.export", 0),
    ("admin", "/pic/admin/audit?institution=321", 0),
    ("admin", "/pic/admin/audit?action=integrity.review&institution=321", 0),
    ("admin", "/pic/admin/pengguna", 0),
    ("admin", f"{OPEN}/ringkasan", 0),
    ("admin", f"{OPEN}/live.json", 0),
    ("admin", f"{OPEN}/integritas", 0),
    ("admin", f"{CLOSED}/skor/laporan", 0),
    ("admin", "/pic/admin/audit.csv?institution=321", 5),
    ("admin", "/pic/admin/audit.csv", 3),
]


def login(client: object, user: str) -> None:
    page = client.get("/pic/login")  # type: ignore[attr-defined]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/pic/login", data={"login": user, "password": "bench-password-123", "csrf": csrf})  # type: ignore[attr-defined]


def measure(runs: int, only: str = "") -> None:
    from fastapi.testclient import TestClient

    from web import create_app

    app = create_app()
    clients: dict[str, TestClient] = {}
    print(f"{runs} requests per page after one first (cold) request", flush=True)
    for user, path, count in PAGES:
        if only and only not in path:
            continue
        if user not in clients:
            clients[user] = TestClient(app, base_url="https://testserver")
            login(clients[user], user)
        client = clients[user]
        t = time.perf_counter()
        response = client.get(path, follow_redirects=False)
        first = (time.perf_counter() - t) * 1000
        assert response.status_code == 200, (path, response.status_code)
        samples = []
        for _ in range(count or runs):
            t = time.perf_counter()
            response = client.get(path, follow_redirects=False)
            samples.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        print(f"{user:6} {path:60} first {first:7.1f} ms  median {statistics.median(samples):7.1f} ms  "
              f"p95 {p95(samples):7.1f} ms  ({len(samples)} requests, {len(response.content):,} bytes)",
              flush=True)
    if not only or only == "after":
        after_change(clients.get("pic") or _client(app, "pic"), clients.get("pic320") or _client(app, "pic320"),
                     runs)


def _client(app: object, user: str) -> object:
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="https://testserver")  # type: ignore[arg-type]
    login(client, user)
    return client


def after_change(client: object, closed_client: object, runs: int) -> None:
    """The integrity page right after its data changed (a reviewer's decision, as the review form
    records it): the cached scores are out of date and recomputed (the page waits at most
    monitor.integrity_page.INDEX_WAIT for them, else shows the previous ones, labelled)."""
    from sqlmodel import select

    from core.db import session_scope
    from integrity.models import Review
    from integrity.service import record_review

    with session_scope() as session:
        rid = session.exec(select(Review.response_id).where(Review.campaign_id == 321)).first()
    from monitor.cache import CACHE

    samples, stale = [], 0
    client.get(f"{OPEN}/integritas")  # type: ignore[attr-defined]  # figures of the data before the change
    for i in range(max(runs // 3, 5)):
        with session_scope(write=True) as session:
            record_review(session, int(rid), ("kept", "excluded")[i % 2], "bench")  # type: ignore[arg-type]
        t = time.perf_counter()
        response = client.get(f"{OPEN}/integritas")  # type: ignore[attr-defined]
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
        stale += "sedang dihitung ulang" in response.text
        CACHE.wait_idle()
    print(f"pic    {OPEN}/integritas right after a review decision: median {statistics.median(samples):7.1f} ms  "
          f"p95 {p95(samples):7.1f} ms  ({len(samples)} requests; {stale} showed the previous index, labelled, "
          "while it was recomputed)", flush=True)
    from responses.scoring import set_correction

    samples, stale = [], 0
    closed_client.get(f"{CLOSED}/skor/laporan")  # type: ignore[attr-defined]
    for i in range(max(runs // 3, 5)):
        with session_scope(write=True) as session:
            set_correction(session, 320, {"survey_integrity": 0.5 + i / 10})
        t = time.perf_counter()
        response = closed_client.get(f"{CLOSED}/skor/laporan")  # type: ignore[attr-defined]
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
        stale += "laporan sedang disusun ulang" in response.text
        CACHE.wait_idle()
    print(f"pic320 {CLOSED}/skor/laporan right after correction points were entered: median "
          f"{statistics.median(samples):7.1f} ms  p95 {p95(samples):7.1f} ms  ({len(samples)} requests; {stale} showed "
          "the previous report, labelled, while it was rebuilt)", flush=True)


if __name__ == "__main__":
    main()
