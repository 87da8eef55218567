"""Benchmark: posters for a national campaign, one poster on demand, and the registration page
under 50 concurrent users.

    .venv/bin/python bench/posters.py [--institutions 640] [--units 30] [--workers 1]
                                      [--skip-national] [--skip-http] [--skip-posters]
                                      [--backend sqlite|postgresql] [--web-workers N]
                                      [--users 50] [--seconds 15] [--think]
                                      [--port 0] [--pg-admin URL] [--pg-port 5432]

Prints posters/s for vector PDFs (one PDF per institution, 30 posters each), the projected time
for the national set (640 x 30 = 19,200 posters), on-demand latencies, and page latencies: the
web server runs as `spibot serve --no-worker --no-scheduler --workers N` in its own process(es);
50 simulated phones (one keep-alive connection each) fire back to back (closed loop) at
/healthz, the registration page, the registration POST, the whole walk-in flow (form, POST,
the questionnaire the 303 opens), and the answer POST (`answers`: each phone walks a fresh link's
questionnaire: the page, the POST of its answers, the page the 303 opens, ... the confirm page's
submission, then the next link); `--think` adds a realistic run with think time. The web
server listens on --port (0: a free port); its database is created for the run (PostgreSQL: under
a name of its own) and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import add_pg_arguments, pg_admin  # noqa: E402

os.environ.setdefault("PUBLIC_BASE_URL", "https://spi.kpk.go.id")


def _specs(institution: int, units: int) -> list:
    from qr.layout import PosterSpec
    from qr.urls import REGISTRATION, registration_url, short_code, short_url

    inst = f"KAB-{institution:04d}"
    return [
        PosterSpec(
            kind=REGISTRATION, year=2026, institution_name=f"Pemerintah Kabupaten Contoh {institution}",
            unit_name=f"Dinas Pelayanan Publik Nomor {u} Bidang Perizinan", counter="L1",
            url=registration_url(inst, f"DINAS-{u:02d}", "L1"),
            short_url=short_url(short_code(REGISTRATION, inst, f"DINAS-{u:02d}", "L1")),
            closes_on="31 Oktober 2026", call_centre="Call center SPI 198 (setiap hari 08.30-22.00 WIB)",
        )
        for u in range(units)
    ]


def _institution_pdf(args: tuple[int, int]) -> int:
    from qr.layout import page_for
    from qr.render import pdf_bytes

    institution, units = args
    pdf = pdf_bytes(page_for(s) for s in _specs(institution, units))
    return len(pdf)


def national(institutions: int, units: int, workers: int) -> None:
    total = institutions * units
    jobs = [(i, units) for i in range(institutions)]
    start = time.perf_counter()
    if workers == 1:
        size = sum(_institution_pdf(j) for j in jobs)
    else:
        with ProcessPoolExecutor(workers) as pool:
            size = sum(pool.map(_institution_pdf, jobs, chunksize=4))
    elapsed = time.perf_counter() - start
    rate = total / elapsed
    print(f"national posters: {total} A4 vector posters ({institutions} institutions x {units} "
          f"units, {workers} process(es)) in {elapsed:.1f} s = {rate:.1f} posters/s; "
          f"avg PDF {size / total / 1024:.1f} KiB/poster; "
          f"projected 19,200 posters: {19_200 / rate / 60:.1f} min")


def on_demand(repeats: int = 20) -> None:
    from qr.posters import render_one

    for fmt, ext in [("a4", "pdf"), ("a4", "png"), ("a4", "svg"), ("tent", "pdf"), ("sticker", "png")]:
        times = []
        for i in range(repeats):
            spec = _specs(10_000 + i, 1)[0]  # a new URL each time: no cached QR matrix
            t = time.perf_counter()
            render_one(spec, fmt, ext)
            times.append(time.perf_counter() - t)
        print(f"one poster on demand {fmt}.{ext}: median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms")


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# --- registration page under 50 concurrent users ------------------------------------------------
#
# The server runs as its own process(es) (`spibot serve --no-worker --no-scheduler --workers N`),
# as in production. The load generator is a minimal keep-alive HTTP/1.1 client on uvloop: one
# connection per simulated phone, requests written as bytes, responses read by Content-Length.
# An HTTP client library costs ~1 ms of CPU per request here and, run in the server's process or
# even next to it, would measure itself; this client's CPU is printed next to the server's.

HTTP_ENV = {
    "ENV": "dev", "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
    "WHATSAPP_BACKEND": "sandbox", "EMAIL_BACKEND": "sandbox", "LOG_LEVEL": "WARNING",
    "QR_IP_LIMIT": "100000000",  # every simulated phone shares 127.0.0.1
    "QR_COUNTER_LIMIT": "100000000",
}
INST, UNIT, COUNTER = "KAB-BENCH", "DUKCAPIL", "L1"
FORM_PATH = f"/daftar/{INST}/{UNIT}?loket={COUNTER}"


class Conn:
    """One keep-alive HTTP/1.1 connection (one phone)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: bench\r\nAccept: text/html\r\n"
        if method == "POST":
            head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        line = b""
        for _ in range(2):
            self.writer.write(head.encode() + b"\r\n" + body)
            if line := await self.reader.readline():
                break
            # The server closed the idle connection (uvicorn: 5 s keep-alive): reconnect and
            # resend, as a phone's browser does; the time to reconnect counts.
            self.writer.close()
            host, port = self.host.rsplit(":", 1)
            self.reader, self.writer = await asyncio.open_connection(host, int(port))
        status = int(line.split()[1])
        headers: dict[bytes, bytes] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            data = await self.reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            parts = []
            while size := int((await self.reader.readline()).strip(), 16):
                parts.append(await self.reader.readexactly(size + 2))
            await self.reader.readline()
            data = b"".join(p[:-2] for p in parts)
        else:
            raise RuntimeError(f"no length in response to {method} {path}")
        return status, headers, data


def _server_cpu(pid: int) -> float:
    """CPU seconds of the web server process and its children (uvicorn workers)."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


class Scenario:
    """Latencies of each kind of request, and of each whole walk-in flow."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    def add(self, kind: str, seconds: float) -> None:
        self.times.setdefault(kind, []).append(seconds)


async def _registration(conn: Conn, phone: str, follow: bool, out: Scenario, measure: bool) -> None:
    """One walk-in user: POST the filled form (phone unique) and, if `follow`, open the
    questionnaire the 303 points at."""
    body = urlencode({"nama": "Warga Bench", "wa": phone, "email": "", "layanan": "Pembuatan KTP",
                      "tanggal": time.strftime("%Y-%m-%d"), "setuju": "1"}).encode()
    t = time.perf_counter()
    status, headers, _ = await conn.request("POST", FORM_PATH, body)
    assert status == 303, status
    if measure:
        out.add("POST registration", time.perf_counter() - t)
    if follow:
        t2 = time.perf_counter()
        status, _, page = await conn.request("GET", headers[b"location"].decode())
        assert status == 200 and b"<form" in page, status
        if measure:
            out.add("GET questionnaire (the 303's Location)", time.perf_counter() - t2)


ANSWER_LINKS = 8000  # fresh links seeded for `answers` (a respondent each; ~7 POSTs a link)
_RADIO = re.compile(rb'<input type="radio" name="([^"]+)" value="([^"]+)"')
_HIDDEN = re.compile(rb'<input type="hidden" name="(page|t)" value="([^"]*)"')


async def _answers(conn: Conn, token: str, out: Scenario, stop: float, start: float) -> None:
    """One respondent's link walked to the end: each page's GET, then the POST of its answers
    (the first option of every question), then the page the 303 opens, until the submission."""
    path = f"/s/{token}"
    while (now := time.perf_counter()) < stop:
        status, _, page = await conn.request("GET", path)
        assert status == 200, (status, path)
        if now >= start:
            out.add("GET questionnaire page", time.perf_counter() - now)
        if b"<form" not in page:  # the thanks page after the submission
            return
        fields = {k.decode(): html.unescape(v.decode()) for k, v in _HIDDEN.findall(page)}
        submit = b'name="nav" value="submit"' in page
        fields["nav"] = "submit" if submit else "next"
        for name, value in _RADIO.findall(page):
            fields.setdefault(name.decode(), value.decode())
        t = time.perf_counter()
        status, headers, _ = await conn.request("POST", f"/s/{token}", urlencode(fields).encode())
        assert status == 303, (status, fields)
        if t >= start:
            out.add("POST answers (303)" if not submit else "POST submission (confirm page, 303)",
                    time.perf_counter() - t)
        path = headers[b"location"].decode()


async def _load(host: str, port: int, users: int, seconds: float, warmup: float, kind: str,
                think: tuple[float, float] | None, cpu: Callable[[], tuple[float, ...]]
                ) -> tuple[Scenario, float, tuple[float, ...]]:
    """`users` phones, each on its own keep-alive connection, doing `kind` back to back (closed
    loop) or with think time, for `warmup` + `seconds`; only requests started after the warm-up
    count. Returns the latencies, the measured window, and `cpu()` over that window."""
    import random

    conns = [Conn(*(await asyncio.open_connection(host, port)), f"{host}:{port}") for _ in range(users)]
    out = Scenario()
    t0 = time.perf_counter()
    start, stop = t0 + warmup, t0 + warmup + seconds
    seq = iter(range(10**9))
    links = iter(_ANSWER_TOKENS)

    async def user(n: int, conn: Conn) -> None:
        rng = random.Random(n)
        if think:  # phones arrive spread out, not all in the same millisecond
            await asyncio.sleep(rng.uniform(0, think[1]))
        while (now := time.perf_counter()) < stop:
            measure = now >= start
            if kind == "healthz":
                status, _, _ = await conn.request("GET", "/healthz")
                assert status == 200, status
                if measure:
                    out.add("GET /healthz", time.perf_counter() - now)
            elif kind == "form":
                status, _, page = await conn.request("GET", FORM_PATH)
                assert status == 200 and b"<form" in page, status
                if measure:
                    out.add("GET registration page", time.perf_counter() - now)
            elif kind == "post":
                await _registration(conn, f"0813{next(seq):08d}", False, out, measure)
            elif kind == "answers":
                await _answers(conn, next(links), out, stop, start)
            else:  # the whole walk-in flow: form, (think), POST, questionnaire
                status, _, page = await conn.request("GET", FORM_PATH)
                assert status == 200 and b"<form" in page, status
                if measure:
                    out.add("GET registration page", time.perf_counter() - now)
                if think:
                    await asyncio.sleep(rng.uniform(*think))
                await _registration(conn, f"0814{next(seq):08d}", True, out, measure)
                if measure and not think:
                    out.add("whole flow (3 requests)", time.perf_counter() - now)
                if think:
                    await asyncio.sleep(rng.uniform(*think))

    async def meter() -> tuple[float, ...]:
        await asyncio.sleep(start - time.perf_counter())
        before = cpu()
        await asyncio.sleep(stop - time.perf_counter())
        return tuple(b - a for a, b in zip(before, cpu(), strict=True))

    metering = asyncio.ensure_future(meter())
    await asyncio.gather(*(user(n, c) for n, c in enumerate(conns)))
    used = await metering
    for c in conns:
        c.writer.close()
    return out, stop - start, used


def _seed_http(db_url: str, answer_links: int = 0) -> None:
    from core.config import reset_settings

    os.environ["DATABASE_URL"] = db_url
    reset_settings()
    from core.db import session_scope
    from core.migrate import upgrade
    from tests.factories import make_campaign, make_institution, make_unit

    upgrade()
    with session_scope(write=True) as s:
        inst = make_institution(s, code=INST, name="Pemerintah Kabupaten Bench")
        make_unit(s, inst, code=UNIT, name="Dinas Kependudukan dan Pencatatan Sipil",
                  services=["Pembuatan KTP", "Pembuatan KK", "Akta Kelahiran"],
                  counters=[COUNTER, "L2"])
        camp = make_campaign(s, inst)
        if answer_links:
            _seed_links(s, camp, answer_links)


_ANSWER_TOKENS: list[str] = []


def _seed_links(session: Any, campaign: Any, count: int) -> None:
    """`count` sampled respondents with fresh links (internal, external, expert in turn), written
    in one flush each (the ORM batches the INSERTs); their tokens go to `_ANSWER_TOKENS`."""
    from sqlmodel import select

    from core.clock import utcnow
    from core.models import Assignment, Person, Unit
    from core.tokens import hash_token, new_nonce, token_for

    unit = session.exec(select(Unit).where(Unit.institution_id == campaign.institution_id)).first()
    groups = ("internal", "external", "expert")
    now = utcnow()
    people = [Person(institution_id=unit.institution_id, unit_id=unit.id, group=groups[i % 3],
                     name=f"Responden {i}", phone=f"0815{i:08d}", source="bench", created_at=now)
              for i in range(count)]
    session.add_all(people)
    session.flush()
    nonces = [new_nonce() for _ in range(count)]
    session.add_all([Assignment(campaign_id=campaign.id, person_id=person.id,  # type: ignore[arg-type]
                                unit_id=unit.id,
                                group=person.group, token_nonce=nonce,
                                token_hash=hash_token(token_for(nonce)), created_at=now)
                     for person, nonce in zip(people, nonces, strict=True)])
    _ANSWER_TOKENS[:] = [token_for(n) for n in nonces]


def http(backend: str, web_workers: int, users: int = 50, seconds: float = 15.0,
         warmup: float = 3.0, think: bool = False, only: str = "", port: int = 0,
         pg: str | None = None) -> None:
    import subprocess

    import uvloop

    from bench._common import database, server_cpu
    from tests.fixtures.server import free_port, wait_until_healthy

    db_url = database(backend, pg)
    os.environ.update(HTTP_ENV)
    _seed_http(db_url, ANSWER_LINKS if only and "answers" in only.split(",") else 0)
    port = port or free_port()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DATABASE_URL": db_url, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    cmd = [sys.executable, "cli.py", "serve", "--no-worker", "--no-scheduler",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(web_workers)]
    server = subprocess.Popen(cmd, cwd=root, env=env)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server)
        print(f"--- {' '.join(cmd[1:])}; {backend}; {users} concurrent users, each on its own "
              f"keep-alive connection; {warmup:g} s warm-up, then {seconds:g} s measured")
        plans: list[tuple[str, str, tuple[float, float] | None]] = [  # answers: only with --only
            ("closed loop, back to back", "healthz", None),
            ("closed loop, back to back", "form", None),
            ("closed loop, back to back", "post", None),
            ("closed loop, back to back", "flow", None),
            ("closed loop, back to back", "answers", None),
        ]
        plans = ([p for p in plans if p[1] in only.split(",")] if only else
                 [p for p in plans if p[1] != "answers"])
        if think:
            plans.append(("REALISTIC: think time 5-15 s before POST and after the questionnaire",
                          "flow", (5.0, 15.0)))
        dbname = db_url.rsplit("/", 1)[1] if backend == "postgresql" else ""

        def db_cpu() -> float:
            return server_cpu(dbname) if dbname else 0.0

        def cpu() -> tuple[float, float, float]:
            return _server_cpu(server.pid), time.process_time(), db_cpu()

        for label, kind, pause in plans:
            span = max(seconds, 40.0) if pause else seconds
            out, window, (web_cpu, client_cpu, pg_cpu) = uvloop.run(
                _load("127.0.0.1", port, users, span, warmup, kind, pause, cpu))
            n = max(sum(len(v) for k, v in out.times.items() if not k.startswith("whole")), 1)
            print(f"[{kind}] {label}: {n / window:.0f} req/s; CPU per request: web server "
                  f"{web_cpu / n * 1000:.2f} ms"
                  + (f", PostgreSQL {pg_cpu / n * 1000:.2f} ms" if dbname else "")
                  + f", load generator {client_cpu / n * 1000:.2f} ms")
            for name, times in out.times.items():
                print(f"    {name}: n={len(times)} p50 {_pct(times, 50) * 1000:.1f} ms, "
                      f"p95 {_pct(times, 95) * 1000:.1f} ms, p99 {_pct(times, 99) * 1000:.1f} ms, "
                      f"max {max(times) * 1000:.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--institutions", type=int, default=640)
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--skip-national", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-posters", action="store_true", help="only the registration page")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--web-workers", type=int, default=1, help="serve --workers N")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per scenario")
    parser.add_argument("--think", action="store_true",
                        help="also a realistic run: users pause 5-15 s to fill the form")
    parser.add_argument("--only", default="",
                        help="closed-loop scenarios to run, e.g. post,flow (default: all)")
    parser.add_argument("--port", type=int, default=0, help="web server port (default: a free port)")
    add_pg_arguments(parser)
    args = parser.parse_args()
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    if not args.skip_posters:
        on_demand()
    if not args.skip_national and not args.skip_posters:
        national(args.institutions, args.units, args.workers)
    if not args.skip_http:
        http(args.backend, args.web_workers, args.users, args.seconds, think=args.think,
             only=args.only, port=args.port, pg=pg_admin(args))


if __name__ == "__main__":
    main()
