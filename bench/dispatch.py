"""Dispatch throughput benchmark: prints figures (not a test).

    .venv/bin/python bench/dispatch.py                       # everything, PostgreSQL + SQLite
    .venv/bin/python bench/dispatch.py --only raw,uncapped --n 5000 --rounds 3
    .venv/bin/python bench/dispatch.py --only memory --memory-sizes 100000,600000
    .venv/bin/python bench/dispatch.py --only phases --n 10000   # where a worker's time goes

The fake Twilio API and the SMTP sink run in their own processes on loopback (nothing leaves the
machine); the worker runs in this process, through the real outbox, the real twilio client and
aiosmtplib. Ports: --twilio-port (default 8791), --smtp-port (default: a free one); PostgreSQL at
--pg-admin (default $SPIBOT_BENCH_PG or postgresql://root@127.0.0.1:5432/test), --pg-port.

Every run gets databases of its own (PostgreSQL: a fresh name per database, SQLite: a new
temporary directory), each dropped when the next one is made and the last at exit.

`raw` and `uncapped` together are paired: each of --rounds rounds runs the raw client, then the
worker on PostgreSQL, then on SQLite (A, B, A, B, ...), and the summary gives each backend's
median ratio to the raw client of its own round, so a machine that slows down or speeds up
during the run moves both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ENV = "SPIBOT_BENCH_PG"
PG_ADMIN = os.environ.get(PG_ENV, "postgresql://root@127.0.0.1:5432/test")  # --pg-admin, --pg-port
_CURRENT: list[tuple[str, str]] = []  # (kind, database name or directory) of the current database
AUTH_TOKEN = "bench-token"  # noqa: S105 - the fake's, on loopback: the worker and the raw client use it

os.environ.update({
    "ENV": "test", "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
    "PUBLIC_BASE_URL": "https://spi.bench.example", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "QUIET_START": "00:00", "QUIET_END": "00:00",
    "WHATSAPP_BACKEND": "twilio", "EMAIL_BACKEND": "sandbox", "LOG_LEVEL": "WARNING",
})
os.environ.pop("TWILIO_EDGE", None)
os.environ.pop("TWILIO_REGION", None)

from tests import netguard  # noqa: E402

netguard.install()


def fresh_db(kind: str) -> str:
    """A new, empty database of a name no other run uses; the previous one of this run is
    dropped first (the last one at exit: bench._common.database)."""
    from bench._common import database
    from core.config import reset_settings
    from core.db import dispose_engines
    from core.migrate import upgrade

    dispose_engines()
    drop_current()
    url = database(kind, PG_ADMIN, prefix="spibot_bench_dispatch")
    if kind == "postgresql":
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        _CURRENT.append((kind, url.rsplit("/", 1)[1]))
    else:
        _CURRENT.append((kind, str(Path(url.removeprefix("sqlite:///")).parent)))
    os.environ["DATABASE_URL"] = url
    reset_settings()
    upgrade(url)
    return url


def drop_current() -> None:
    import shutil

    from bench._common import drop_database

    while _CURRENT:
        kind, name = _CURRENT.pop()
        if kind == "postgresql":
            drop_database(PG_ADMIN, name)
        else:
            shutil.rmtree(name, ignore_errors=True)


def setenv(**values: str) -> None:
    from core.config import reset_settings

    os.environ.update(values)
    reset_settings()


def populate(n: int, *, groups: tuple[str, ...] = ("internal",), email: bool = False) -> tuple[int, float]:
    """A campaign of n respondents; returns (campaign id, seconds to enqueue the invitations)."""
    from sqlalchemy import insert, select

    from core.clock import utcnow
    from core.db import session_scope
    from core.models import Assignment, Person
    from core.tokens import hash_token, new_nonce, token_for
    from dispatch.service import enqueue_invitations
    from tests.factories import make_campaign, make_institution, make_unit

    with session_scope(write=True) as s:
        inst = make_institution(s)
        unit = make_unit(s, inst)
        campaign = make_campaign(s, inst)
        now = utcnow()
        for start in range(0, n, 20_000):
            chunk = range(start, min(n, start + 20_000))
            s.execute(insert(Person), [
                {"institution_id": inst.id, "unit_id": unit.id, "group": groups[i % len(groups)],
                 "name": f"Responden {i}", "phone": None if email else f"+{628500000000 + i}",
                 "email": f"r{i}@contoh.go.id" if email else None, "status": "eligible", "flags": [],
                 "source": "bench", "non_asn": False, "created_at": now} for i in chunk])
            ids = s.execute(select(Person.id, Person.group).where(Person.institution_id == inst.id)
                            .where(Person.id > 0).order_by(Person.id).offset(start).limit(len(chunk))).all()
            rows = []
            for pid, group in ids:
                nonce = new_nonce()
                rows.append({"campaign_id": campaign.id, "person_id": pid, "unit_id": unit.id, "group": group,
                             "kind": "sampled", "active": True, "token_nonce": nonce,
                             "token_hash": hash_token(token_for(nonce)), "created_at": now})
            s.execute(insert(Assignment), rows)
            s.commit()
        cid = campaign.id
    t = time.perf_counter()
    with session_scope(write=True) as s:
        enqueue_invitations(s, cid, commit_chunks=True)
    return cid, time.perf_counter() - t


def run_worker(timeout: float = 3600) -> tuple[dict, float]:
    from dispatch.worker import run_until_idle

    t = time.perf_counter()
    stats = run_until_idle(timeout=timeout)
    return stats, time.perf_counter() - t


def windows(times: list[float]) -> tuple[float, int]:
    """(achieved rate, most messages in any 1-second window) from arrival times."""
    times = sorted(times)
    if len(times) < 2:
        return 0.0, len(times)
    rate = (len(times) - 1) / (times[-1] - times[0])
    worst, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        worst = max(worst, i - j + 1)
    return rate, worst


def raw_client(url: str, n: int, content_sid: str) -> float:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    async def main() -> float:
        http = AsyncTwilioHttpClient()
        client = Client("AC" + "0" * 32, AUTH_TOKEN, http_client=http)
        client.api.base_url = url
        sem = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with sem:
                await client.messages.create_async(
                    to=f"whatsapp:+62819{i:08d}", from_="whatsapp:+628111919476", content_sid=content_sid,
                    content_variables='{"1": "x"}')

        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        dt = time.perf_counter() - t
        await http.close()
        return n / dt

    return asyncio.run(main())


def main() -> None:
    global PG_ADMIN
    from bench._common import add_pg_arguments, pg_admin
    from tests.fakes.twilio_api import add_content_remote, fetch_messages, start_process

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000, help="messages for the uncapped runs")
    ap.add_argument("--only", default="raw,uncapped,capped,email,memory")
    ap.add_argument("--memory-sizes", default="100000")
    ap.add_argument("--rounds", type=int, default=3,
                    help="paired rounds of raw client, worker on PostgreSQL, on SQLite (raw,uncapped)")
    ap.add_argument("--twilio-port", type=int, default=8791, help="port of the fake Twilio API")
    ap.add_argument("--smtp-port", type=int, default=0, help="port of the SMTP sink (default: a free port)")
    ap.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    add_pg_arguments(ap, env=PG_ENV)
    args = ap.parse_args()
    PG_ADMIN = pg_admin(args)
    if args.memory_child:
        memory_child(args.memory_child)
        return
    only = set(args.only.split(","))
    proc, url = start_process(args.twilio_port, auth_token=AUTH_TOKEN)
    setenv(TWILIO_API_BASE_URL=url)
    # The fake refuses unknown Content SIDs as Twilio does (21655): the account's approved templates.
    sids = {t: add_content_remote(url, f"spi_{t}") for t in ("invitation", "reminder", "registration")}
    setenv(**{f"TWILIO_CONTENT_SID_{t.upper()}": sid for t, sid in sids.items()})
    try:
        if "raw" in only or "uncapped" in only:
            raw_vs_worker(url, sids["invitation"], args.n, "raw" in only, "uncapped" in only, args.rounds)
        if "capped" in only:
            # (senders, worker processes, messages): the second worker is a subprocess sharing
            # the database's rate buckets with this one
            for senders, procs, n in ((1, 1, 1200), (2, 1, 2400), (1, 2, 1200)):
                fresh_db("postgresql")
                setenv(WHATSAPP_RATE_PER_SENDER="80")
                groups = ("internal", "external")[:senders]
                before = len(fetch_messages(url))
                populate(n, groups=groups)
                others = [subprocess.Popen([sys.executable, "-m", "tests.dispatch.worker_main", "--once"],
                                           cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, text=True)
                          for _ in range(procs - 1)]
                stats, _ = run_worker()
                shares = [stats["sent"]]
                for other in others:
                    printed, _ = other.communicate(timeout=120)
                    shares.append(ast.literal_eval(printed.strip().splitlines()[-1])["sent"])
                msgs = fetch_messages(url)[before:]
                label = f"{senders} sender(s), {procs} worker(s)"
                if procs > 1:
                    print(f"capped, {label}: sent per worker {shares}")
                for sender in sorted({m["From"] for m in msgs}):
                    rate, worst = windows([m["at"] for m in msgs if m["From"] == sender])
                    print(f"capped 80/s, {label}, {sender}: {len([m for m in msgs if m['From'] == sender])} "
                          f"msgs, achieved {rate:6.1f}/s ({rate / 80:5.1%} of cap), max in any 1 s window {worst}")
                total, _ = windows([m["at"] for m in msgs])
                print(f"capped, {label} together: {total:6.1f}/s "
                      f"({total / (80 * senders):5.1%} of {80 * senders}/s)")
        if "phases" in only:
            setenv(WHATSAPP_RATE_PER_SENDER="0")
            for kind in ("postgresql", "sqlite"):
                fresh_db(kind)
                populate(args.n)
                phases(kind, args.n)
        if "email" in only:
            bench_email(args.n // 2, args.smtp_port)
        if "memory" in only:
            for size in [int(x) for x in args.memory_sizes.split(",")]:
                out = subprocess.run([sys.executable, __file__, "--memory-child", str(size),
                                      "--pg-admin", PG_ADMIN], capture_output=True, text=True, cwd=ROOT)
                print(out.stdout.strip() or out.stderr[-2000:])
    finally:
        proc.terminate()
        drop_current()


def raw_vs_worker(url: str, content_sid: str, n: int, raw: bool, worker: bool, rounds: int) -> None:
    """The raw twilio client and the worker (PostgreSQL, SQLite), alternated round by round when
    both run: each round's worker rates are compared with the raw rate of the same round."""
    rounds = max(rounds, 1) if raw and worker else 1
    raws: list[float] = []
    rates: dict[str, list[float]] = {"postgresql": [], "sqlite": []}
    for r in range(rounds):
        tag = f"round {r + 1}/{rounds}: " if rounds > 1 else ""
        if raw:
            raws.append(raw_client(url, n, content_sid))
            print(f"{tag}raw twilio client (64 concurrent) : {raws[-1]:8.0f} msg/s", flush=True)
        if worker:
            setenv(WHATSAPP_RATE_PER_SENDER="0")
            for kind in ("postgresql", "sqlite"):
                fresh_db(kind)
                _, enq = populate(n)
                stats, dt = run_worker()
                rates[kind].append(n / dt)
                share = f", {n / dt / raws[-1]:.0%} of raw" if raw else ""
                print(f"{tag}outbox uncapped on {kind:10s}: {n / dt:8.0f} msg/s  "
                      f"(enqueue {n / enq:7.0f} rows/s; sent {stats['sent']}{share})", flush=True)
    if rounds > 1:
        print(f"paired over {rounds} rounds (A, B, A, B): raw client median {statistics.median(raws):.0f} msg/s")
        for kind, values in rates.items():
            ratios = [v / base for v, base in zip(values, raws, strict=True)]
            print(f"outbox uncapped on {kind:10s}: median {statistics.median(values):8.0f} msg/s, "
                  f"median ratio to raw {statistics.median(ratios):.1%} "
                  f"(rounds: {', '.join(f'{x:.0%}' for x in ratios)})")


def phases(kind: str, n: int) -> None:
    """Uncapped run with each phase timed: wall and CPU of the claim and result writes (database
    thread), message building, and the process's CPU per message (the rest is the twilio client,
    aiohttp and the event loop)."""
    from dispatch import worker as w

    acc: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrap(*args: Any, **kw: Any) -> Any:
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kw)
            finally:
                acc[name] = acc.get(name, 0.0) + time.perf_counter() - t
                acc[name + " cpu"] = acc.get(name + " cpu", 0.0) + time.thread_time() - c
        return wrap

    saved = w.Worker.claim, w.Worker.write_results, w.build_message
    w.Worker.claim = timed("claim", w.Worker.claim)  # type: ignore[method-assign]
    w.Worker.write_results = timed("write", w.Worker.write_results)  # type: ignore[method-assign]
    w.build_message = timed("build", w.build_message)
    try:
        cpu = time.process_time()
        stats, dt = run_worker()
        cpu = time.process_time() - cpu
    finally:
        w.Worker.claim, w.Worker.write_results, w.build_message = saved  # type: ignore[method-assign]
    print(f"phases on {kind}: {n / dt:6.0f} msg/s, process CPU {cpu / n * 1e3:.3f} ms/msg "
          f"({cpu / dt:.0%} of one core; sent {stats['sent']})")
    for name in ("claim", "write", "build"):
        print(f"  {name:5s} wall {acc.get(name, 0) / n * 1e3:.3f} ms/msg, "
              f"CPU {acc.get(name + ' cpu', 0) / n * 1e3:.3f} ms/msg")


def bench_email(n: int, port: int = 0) -> None:
    from tests.fixtures.server import free_port

    port = port or free_port()
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"], cwd=ROOT)
    time.sleep(1.5)
    try:
        for kind in ("postgresql",):
            fresh_db(kind)
            setenv(EMAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                   EMAIL_RATE_PER_SERVER="0", SMTP_POOL_SIZE="8")
            populate(n, email=True)
            stats, dt = run_worker()
            print(f"email via aiosmtpd ({kind}), pool 8: {n / dt:8.0f} msg/s (sent {stats['sent']})")
    finally:
        sink.terminate()
        setenv(EMAIL_BACKEND="sandbox")


def memory_child(size: int) -> None:
    """Enqueue and send `size` messages (sandbox channel) on PostgreSQL; print peak RSS."""
    setenv(WHATSAPP_BACKEND="sandbox", WHATSAPP_RATE_PER_SENDER="0")
    fresh_db("postgresql")
    _, enq = populate(size)
    after_enqueue = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats, dt = run_worker()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory, {size:7d} messages (sandbox, PostgreSQL): peak RSS after enqueue "
          f"{after_enqueue:6.0f} MB, after sending {peak:6.0f} MB; enqueue {size / enq:6.0f} rows/s, "
          f"send {size / dt:6.0f} msg/s (sent {stats['sent']})")


if __name__ == "__main__":
    main()
