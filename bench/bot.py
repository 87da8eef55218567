"""Benchmark: 100 concurrent "Isi Survei" webhooks during a bulk blast of 50,000 invitations.

Processes, as in production: `spibot serve --no-worker` and one `spibot worker` run as
subprocesses against the same database; the fake Twilio API and the webhook client run here.
First 100 webhooks with no blast and no worker (the webhook alone), then the worker starts the
blast and bursts of 100 more webhooks arrive (3 bursts by default, each from new numbers, the next
once the previous one's replies reached the provider). Prints p50/p95/max of
  - the webhook response time (request sent -> empty TwiML received),
  - webhook sent -> the reply row written to the outbox (its created_at),
  - reply row -> handed to the provider (the fake Twilio API records arrival times), and
  - webhook sent -> the reply handed to the provider.

    .venv/bin/python bench/bot.py                       # SQLite in a temp dir
    .venv/bin/python bench/bot.py --pg                  # PostgreSQL (--pg-admin URL, --pg-port)
    .venv/bin/python bench/bot.py --rate 1000           # a faster (uncapped-like) blast
    .venv/bin/python bench/bot.py --serve-workers 2     # `spibot serve --workers 2`
    .venv/bin/python bench/bot.py --port 8000 --twilio-port 8765   # fixed ports (default: free ones)

The database is created for the run (PostgreSQL: under a name of its own, SQLite: in a new
temporary directory) and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._common import add_pg_arguments, database, pg_admin  # noqa: E402

ENV = {
    "ENV": "dev", "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
    "WHATSAPP_BACKEND": "twilio", "EMAIL_BACKEND": "sandbox",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000", "TWILIO_AUTH_TOKEN": "bench-token",
    "LOG_LEVEL": "WARNING", "QUIET_START": "23:59", "QUIET_END": "00:00",
}


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


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


async def fire(url: str, phones: list[str], tag: str) -> tuple[dict[str, float], list[float], list[int]]:
    """Post one signed "Isi Survei" webhook per phone, all at once, on connections opened
    beforehand (as a provider's keep-alive pool would). Requests are prebuilt bytes and responses
    read raw: an HTTP client library costs ~3 ms of CPU per request here, more than the server,
    and would measure itself."""
    from urllib.parse import urlencode, urlsplit

    from dispatch.channels.twilio.webhooks import sign

    host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80
    requests: list[bytes] = []
    for n, phone in enumerate(phones):
        form = {"MessageSid": f"SM{tag}{n:028d}", "AccountSid": ENV["TWILIO_ACCOUNT_SID"],
                "From": f"whatsapp:{phone}", "To": "whatsapp:+628111919476", "Body": "Isi Survei",
                "NumMedia": "0"}
        body = urlencode(form).encode()
        head = (f"POST /twilio/inbound HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                f"X-Twilio-Signature: {sign(f'{url}/twilio/inbound', form, ENV['TWILIO_AUTH_TOKEN'])}"
                f"\r\n\r\n")
        requests.append(head.encode() + body)
    conns = [await asyncio.open_connection(host, port) for _ in phones]
    sent_at: dict[str, float] = {}
    durations: list[float] = []
    codes: list[int] = []

    async def one(n: int, phone: str) -> None:
        reader, writer = conns[n]
        sent_at[phone] = time.time()
        t0 = time.perf_counter()
        writer.write(requests[n])
        status = await reader.readline()
        length = 0
        while (header := await reader.readline()) not in (b"\r\n", b""):
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":")[1])
        await reader.readexactly(length)
        durations.append(time.perf_counter() - t0)
        codes.append(int(status.split()[1]))

    await asyncio.gather(*(one(n, p) for n, p in enumerate(phones)))
    for _, writer in conns:
        writer.close()
    return sent_at, durations, codes


def reply_rows(phones: list[str], timeout: float = 60) -> dict[str, float]:
    """phone -> epoch seconds at which its reply row was written to the outbox."""
    return {p: created for p, (created, _) in reply_times(phones, timeout).items()}


def reply_times(phones: list[str], timeout: float = 60,
                claimed: bool = False) -> dict[str, tuple[float, float | None]]:
    """phone -> (reply row written, row claimed by a worker) in epoch seconds."""
    from sqlalchemy import select

    from core.db import session_scope
    from dispatch.models import Lane, Outbox

    wanted, found = set(phones), {}
    deadline = time.time() + timeout
    while len(found) < len(wanted) and time.time() < deadline:
        with session_scope() as s:
            rows = s.execute(select(Outbox.to_address, Outbox.created_at, Outbox.claimed_at)  # type: ignore[call-overload]
                             .where(Outbox.lane == Lane.reply)).all()
        for address, created, claimed_at in rows:
            phone = address.removeprefix("whatsapp:")
            if phone in wanted and (claimed_at is not None or not claimed):
                found.setdefault(phone, (created.timestamp(), claimed_at and claimed_at.timestamp()))
        time.sleep(0.1)
    return found


def wait_idle(pid: int, limit: float = 120) -> None:
    """Let the server's start-up jobs (the scheduler runs each once at start) finish first: the
    figures are about a server in its steady state."""
    import psutil

    proc, t0 = psutil.Process(pid), time.time()
    proc.cpu_percent()
    while time.time() - t0 < limit:
        time.sleep(1.0)
        if proc.cpu_percent() < 5:
            break
    print(f"web server idle after {time.time() - t0:.0f} s (start-up jobs done)")


def line(name: str, values: list[float], target: str, unit: str = "s", n: int = 100) -> None:
    if not values:
        print(f"{name}: none within the time limit")
        return
    k = 1000 if unit == "ms" else 1
    fmt = ".0f" if unit == "ms" else ".2f"
    print(f"{name} ({len(values)}/{n}): p50 {pct(values, 50) * k:{fmt}} {unit}, "
          f"p95 {pct(values, 95) * k:{fmt}} {unit}, max {max(values) * k:{fmt}} {unit}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--invitations", type=int, default=50_000)
    parser.add_argument("--webhooks", type=int, default=100)
    parser.add_argument("--rate", type=float, default=80.0, help="messages/s per sender")
    parser.add_argument("--warmup-sent", type=int, default=300, help="blast sends before the webhooks")
    parser.add_argument("--bursts", type=int, default=3, help="bursts of webhooks during the blast")
    parser.add_argument("--serve-workers", type=int, default=1, help="`spibot serve --workers N`")
    parser.add_argument("--no-scheduler", action="store_true",
                        help="`spibot serve --no-scheduler` (the scheduler's jobs run elsewhere)")
    parser.add_argument("--port", type=int, default=0, help="web server port (default: a free port)")
    parser.add_argument("--twilio-port", type=int, default=0,
                        help="fake Twilio API port (default: a free port)")
    add_pg_arguments(parser)
    args = parser.parse_args()

    from tests.fakes.twilio_api import FakeTwilio
    from tests.fixtures.server import free_port, wait_until_healthy

    fake = FakeTwilio(record_requests=False, auth_token=ENV["TWILIO_AUTH_TOKEN"])
    # The fake refuses unknown Content SIDs as Twilio does (21655): the account's approved templates.
    sids = {t: fake.add_content(f"spi_{t}") for t in ("invitation", "reminder", "registration")}
    port = args.port or free_port()
    db_url = database("postgresql" if args.pg else "sqlite", pg_admin(args), prefix="spibot_bench_bot")
    env = {**ENV, "DATABASE_URL": db_url, "TWILIO_API_BASE_URL": fake.start(args.twilio_port),
           **{f"TWILIO_CONTENT_SID_{t.upper()}": sid for t, sid in sids.items()},
           "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "WHATSAPP_RATE_PER_SENDER": str(args.rate),
           "PORT": str(port), "HOST": "127.0.0.1"}
    os.environ.update(env)
    t0 = time.perf_counter()
    groups = 1 + args.bursts
    _, phones = seed(args.invitations, groups * args.webhooks)
    quiet_phones, bursts = phones[0::groups], [phones[k::groups] for k in range(1, groups)]
    print(f"seeding took {time.perf_counter() - t0:.1f} s; backend {'postgresql' if args.pg else 'sqlite'}, "
          f"rate cap {args.rate:g}/s per sender; web server processes: {args.serve_workers}")
    py = sys.executable  # the interpreter running this script (its venv has spibot installed)
    # As in production: the web server (`spibot serve --no-worker`) and a separate `spibot worker`.
    serve = [py, "cli.py", "serve", "--no-worker", "--workers", str(args.serve_workers)]
    procs = [subprocess.Popen(serve + (["--no-scheduler"] if args.no_scheduler else []),
                              cwd=ROOT, env={**os.environ})]
    t_start = time.time()
    try:
        url = f"http://127.0.0.1:{port}"
        import psutil

        wait_until_healthy(url, procs[0])
        wait_idle(procs[0].pid)

        # (a) no blast, no worker: the webhook alone, and webhook -> reply row in the outbox
        server = psutil.Process(procs[0].pid)

        def server_cpu() -> float:  # the parent and its web worker processes
            return sum(sum(p.cpu_times()[:2]) for p in [server, *server.children(recursive=True)])

        cpu0 = server_cpu()
        sent_q, durations_q, codes_q = asyncio.run(fire(url, quiet_phones, "quiet"))
        rows_q = reply_rows(quiet_phones)
        cpu_q = server_cpu() - cpu0
        print(f"--- no blast ({len(quiet_phones)} concurrent webhooks, no worker running)")
        print(f"status codes {sorted(set(codes_q))}")
        line("webhook response time", durations_q, "(target p95 <= 100 ms)", "ms", len(quiet_phones))
        line("webhook -> reply row in the outbox", [rows_q[p] - sent_q[p] for p in rows_q], "",
             n=len(quiet_phones))
        print(f"web server CPU for the burst (acknowledge + decide + enqueue): {cpu_q:.2f} s "
              f"({cpu_q / len(quiet_phones) * 1000:.1f} ms per webhook)")

        procs.append(subprocess.Popen([py, "cli.py", "worker"], cwd=ROOT, env={**os.environ}))
        deadline = time.time() + 120
        while len(fake.messages) < args.warmup_sent:
            if time.time() > deadline:
                raise SystemExit("the blast did not start")
            time.sleep(0.2)
        before = len(fake.messages)
        t_blast = time.time()
        # (b), (c), (d) during the blast, burst after burst
        totals: dict[str, list[float]] = {}
        all_codes: set[int] = set()
        for k, blast_phones in enumerate(bursts):
            n = len(blast_phones)
            start = len(fake.messages)
            cpu0 = server_cpu()
            sent_at, durations, codes = asyncio.run(fire(url, blast_phones, f"blast{k}"))
            times = reply_times(blast_phones, claimed=True)
            rows = {p: created for p, (created, _) in times.items()}
            claims = {p: c for p, (_, c) in times.items() if c is not None}
            wanted = {f"whatsapp:{p}" for p in blast_phones}
            replies: dict[str, float] = {}
            deadline = time.time() + 60
            while len(replies) < n and time.time() < deadline:
                for msg in list(fake.messages[start:]):
                    if msg["Body"] and msg["To"] in wanted:
                        replies.setdefault(msg["To"].removeprefix("whatsapp:"), msg["at"])
                time.sleep(0.1)
            cpu = server_cpu() - cpu0
            blast_rate = (len(fake.messages) - before) / max(time.time() - t_blast, 1e-9)
            print(f"--- during the blast, burst {k + 1}/{len(bursts)} (at {min(sent_at.values()) - t_start:.0f} s "
                  f"after the server started): {before:,} invitations sent before the first burst; "
                  f"{blast_rate:.0f} messages/s handed to the provider since")
            print(f"status codes {sorted(set(codes))}; web server CPU {cpu / n * 1000:.1f} ms per webhook "
                  f"(while the blast runs)")
            stages = {
                "webhook response time": durations,
                "webhook -> reply row in the outbox": [rows[p] - sent_at[p] for p in rows],
                "reply row -> claimed by the worker": [claims[p] - rows[p] for p in claims],
                "claimed -> provider": [replies[p] - claims[p] for p in replies if p in claims],
                "reply row -> provider": [replies[p] - rows[p] for p in replies if p in rows],
                "webhook -> reply at provider": [replies[p] - sent_at[p] for p in replies],
            }
            for name, values in stages.items():
                unit = "ms" if name == "webhook response time" else "s"
                target = {"webhook response time": "(target p95 <= 100 ms)",
                          "webhook -> reply at provider": "(target p95 <= 2 s)"}.get(name, "")
                line(name, values, target, unit, n)
                totals.setdefault(name, []).extend(values)
            all_codes.update(codes)
            time.sleep(2.0)
        if len(bursts) > 1:
            n = sum(len(b) for b in bursts)
            print(f"--- during the blast, all {len(bursts)} bursts together; status codes {sorted(all_codes)}")
            line("webhook response time", totals["webhook response time"], "(target p95 <= 100 ms)", "ms", n)
            for name in list(totals)[1:]:
                line(name, totals[name], "(target p95 <= 2 s)" if name.endswith("provider") and
                     name.startswith("webhook") else "", n=n)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
        fake.stop()


if __name__ == "__main__":
    main()
