"""Benchmark: 100 concurrent "Isi Survei" webhooks during a bulk blast of 50,000 invitations.

Processes: the app (uvicorn, no worker) and one `spibot worker` run as subprocesses against the
same database; the fake Twilio API and the webhook client run here. Prints p50/p95/max of
  - the webhook response time (request sent -> empty TwiML received), and
  - webhook sent -> the reply handed to the provider (the fake Twilio API records arrival times).

    .venv/bin/python bench/bot.py                       # SQLite in a temp dir
    .venv/bin/python bench/bot.py --pg                  # PostgreSQL (SPIBOT_TEST_PG admin URL)
    .venv/bin/python bench/bot.py --rate 1000           # a faster (uncapped-like) blast
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENV = {
    "ENV": "dev", "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
    "WHATSAPP_BACKEND": "twilio", "EMAIL_BACKEND": "sandbox",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000", "TWILIO_AUTH_TOKEN": "bench-token",
    "LOG_LEVEL": "WARNING", "QUIET_START": "23:59", "QUIET_END": "00:00",
}


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url(use_pg: bool, tmp: Path) -> str:
    if not use_pg:
        return f"sqlite:///{tmp / 'bench.db'}"
    import psycopg

    admin = os.environ.get("SPIBOT_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "spibot_bench_bot" WITH (FORCE)')
        conn.execute('CREATE DATABASE "spibot_bench_bot"')
    return admin.rsplit("/", 1)[0] + "/spibot_bench_bot"


def seed(n: int, senders: int) -> tuple[int, list[str]]:
    """An institution, 20 units, `n` people with assignments; returns campaign id and phones."""
    from datetime import timedelta

    from sqlalchemy import insert, select

    from core.clock import utcnow
    from core.db import session_scope
    from core.migrate import upgrade
    from core.models import Assignment, Campaign, Institution, Person, Unit
    from core.tokens import hash_token, new_nonce, token_for

    upgrade()
    now = utcnow()
    with session_scope(write=True) as s:
        inst = Institution(code="BENCH", name="Kabupaten Bench", created_at=now)
        s.add(inst)
        s.flush()
        units = [Unit(institution_id=inst.id, code=f"U{i:02d}", name=f"Dinas {i}") for i in range(20)]
        s.add_all(units)
        camp = Campaign(institution_id=inst.id, year=now.year, name="SPI Bench", status="open",
                        opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=30))
        s.add(camp)
        s.flush()
        phones = [f"+62812{i:08d}" for i in range(n)]
        s.execute(insert(Person), [
            {"institution_id": inst.id, "unit_id": units[i % 20].id, "group": "internal",
             "name": f"Responden {i}", "phone": phones[i], "status": "eligible", "flags": []}
            for i in range(n)])
        ids = s.execute(select(Person.id, Person.unit_id).order_by(Person.id)).all()
        rows = []
        for pid, uid in ids:
            nonce = new_nonce()
            rows.append({"campaign_id": camp.id, "person_id": pid, "unit_id": uid, "group": "internal",
                         "kind": "sampled", "active": True, "token_nonce": nonce,
                         "token_hash": hash_token(token_for(nonce)), "created_at": now})
        s.execute(insert(Assignment), rows)
        campaign_id = int(camp.id)  # type: ignore[arg-type]
    from dispatch.service import enqueue_invitations

    with session_scope(write=True) as s:
        queued = enqueue_invitations(s, campaign_id)
    print(f"seeded {n:,} respondents, {queued:,} invitations queued")
    step = max(n // senders, 1)
    return campaign_id, phones[::step][:senders]


async def fire(url: str, phones: list[str]) -> tuple[dict[str, float], list[float], list[int]]:
    import httpx

    from dispatch.twilio_webhooks import sign

    sent_at: dict[str, float] = {}
    durations: list[float] = []
    codes: list[int] = []

    async def one(client: httpx.AsyncClient, n: int, phone: str) -> None:
        form = {"MessageSid": f"SMbench{n:026d}", "AccountSid": ENV["TWILIO_ACCOUNT_SID"],
                "From": f"whatsapp:{phone}", "To": "whatsapp:+628111919476", "Body": "Isi Survei",
                "NumMedia": "0"}
        headers = {"X-Twilio-Signature": sign(f"{url}/twilio/inbound", form, ENV["TWILIO_AUTH_TOKEN"])}
        sent_at[phone] = time.time()
        t0 = time.perf_counter()
        response = await client.post("/twilio/inbound", data=form, headers=headers)
        durations.append(time.perf_counter() - t0)
        codes.append(response.status_code)

    limits = httpx.Limits(max_connections=len(phones), max_keepalive_connections=len(phones))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await client.get("/healthz")  # warm up
        await asyncio.gather(*(one(client, n, p) for n, p in enumerate(phones)))
    return sent_at, durations, codes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--invitations", type=int, default=50_000)
    parser.add_argument("--webhooks", type=int, default=100)
    parser.add_argument("--rate", type=float, default=80.0, help="messages/s per sender")
    parser.add_argument("--warmup-sent", type=int, default=300, help="blast sends before the webhooks")
    args = parser.parse_args()

    from tests.fakes.twilio_api import FakeTwilio

    tmp = Path(tempfile.mkdtemp(prefix="spibot-bench-bot-"))
    fake = FakeTwilio(record_requests=False)
    port = free_port()
    env = {**ENV, "DATABASE_URL": database_url(args.pg, tmp), "TWILIO_API_BASE_URL": fake.start(),
           "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "WHATSAPP_RATE_PER_SENDER": str(args.rate)}
    os.environ.update(env)
    t0 = time.perf_counter()
    _, phones = seed(args.invitations, args.webhooks)
    print(f"seeding took {time.perf_counter() - t0:.1f} s; backend {'postgresql' if args.pg else 'sqlite'}, "
          f"rate cap {args.rate:g}/s per sender")
    py = str(ROOT / ".venv" / "bin" / "python")
    procs = [
        subprocess.Popen([py, "-m", "uvicorn", "web:app", "--port", str(port), "--log-level", "warning"],
                         cwd=ROOT, env={**os.environ}),
        subprocess.Popen([py, "cli.py", "worker"], cwd=ROOT, env={**os.environ}),
    ]
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while len(fake.messages) < args.warmup_sent:
            if time.time() > deadline:
                raise SystemExit("the blast did not start")
            time.sleep(0.2)
        before = len(fake.messages)
        t_blast = time.time()
        sent_at, durations, codes = asyncio.run(fire(url, phones))
        wanted = {f"whatsapp:{p}" for p in phones}
        replies: dict[str, float] = {}
        deadline = time.time() + 60
        while len(replies) < len(phones) and time.time() < deadline:
            for msg in list(fake.messages[before:]):
                if msg["Body"] and msg["To"] in wanted:
                    replies.setdefault(msg["To"].removeprefix("whatsapp:"), msg["at"])
            time.sleep(0.1)
        blast_rate = (len(fake.messages) - before) / max(time.time() - t_blast, 1e-9)
        latencies = [replies[p] - sent_at[p] for p in replies]
        print(f"blast in progress: {before:,} invitations sent before the webhooks; "
              f"{blast_rate:.0f} messages/s handed to the provider meanwhile")
        print(f"webhooks: {len(codes)} sent, status codes {sorted(set(codes))}")
        print(f"webhook response time: p50 {pct(durations, 50) * 1000:.0f} ms, "
              f"p95 {pct(durations, 95) * 1000:.0f} ms, max {max(durations) * 1000:.0f} ms (target p95 <= 100 ms)")
        if latencies:
            print(f"webhook -> reply at provider ({len(latencies)}/{len(phones)} replies): "
                  f"p50 {pct(latencies, 50):.2f} s, p95 {pct(latencies, 95):.2f} s, "
                  f"max {max(latencies):.2f} s (target p95 <= 2 s)")
        else:
            print("no reply reached the provider within 60 s")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
        fake.stop()


if __name__ == "__main__":
    main()
