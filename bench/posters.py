"""Benchmark: posters for a national campaign, one poster on demand, and the registration page
under 50 concurrent users.

    .venv/bin/python bench/posters.py [--institutions 640] [--units 30] [--workers 1]
                                      [--skip-national] [--skip-http]

Prints posters/s for vector PDFs (one PDF per institution, 30 posters each), the projected time
for the national set (640 x 30 = 19,200 posters), on-demand latencies, and page latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
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


def http(users: int = 50, requests_per_user: int = 20) -> None:
    import httpx
    import uvicorn

    tmp = tempfile.mkdtemp()
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
    os.environ["QR_IP_LIMIT"] = "1000000"  # every simulated user shares 127.0.0.1
    os.environ["QR_COUNTER_LIMIT"] = "1000000"
    from core.config import reset_settings

    reset_settings()
    from core.db import session_scope
    from core.migrate import upgrade
    from tests.factories import make_campaign, make_institution, make_unit

    upgrade()
    with session_scope(write=True) as s:
        inst = make_institution(s, code="KAB-BENCH", name="Pemerintah Kabupaten Bench")
        make_unit(s, inst, code="DUKCAPIL", name="Dinas Dukcapil", counters=["L1"])
        make_campaign(s, inst)
    from web import create_app

    config = uvicorn.Config(create_app(), host="127.0.0.1", port=8765, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = "http://127.0.0.1:8765/daftar/KAB-BENCH/DUKCAPIL?loket=L1"

    async def user(client: httpx.AsyncClient, n: int, post: bool, out: list[float]) -> None:
        for k in range(requests_per_user):
            t = time.perf_counter()
            if post:
                data = {"nama": "Warga Bench", "wa": f"0812{n:03d}{k:05d}", "layanan": "Pembuatan KTP",
                        "tanggal": time.strftime("%Y-%m-%d"), "setuju": "1"}
                r = await client.post(url, data=data)
                assert r.status_code == 303, r.status_code
            else:
                r = await client.get(url)
                assert r.status_code == 200, r.status_code
            out.append(time.perf_counter() - t)

    async def run(post: bool) -> list[float]:
        out: list[float] = []
        limits = httpx.Limits(max_connections=users)
        async with httpx.AsyncClient(limits=limits, follow_redirects=False, timeout=60) as client:
            await client.get(url)
            await asyncio.gather(*(user(client, n, post, out) for n in range(users)))
        return out

    async def health() -> list[float]:
        out: list[float] = []
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=users), timeout=60) as client:
            async def one() -> None:
                for _ in range(requests_per_user):
                    t = time.perf_counter()
                    (await client.get("http://127.0.0.1:8765/healthz")).raise_for_status()
                    out.append(time.perf_counter() - t)
            await asyncio.gather(*(one() for _ in range(users)))
        return out

    t = time.perf_counter()
    times = asyncio.run(health())
    print(f"baseline GET /healthz (core, 1 query): {users} concurrent users: p50 "
          f"{_pct(times, 50) * 1000:.0f} ms, p95 {_pct(times, 95) * 1000:.0f} ms, "
          f"{len(times) / (time.perf_counter() - t):.0f} req/s")
    for label, post in [("GET registration page", False), ("POST registration", True)]:
        t = time.perf_counter()
        times = asyncio.run(run(post))
        wall = time.perf_counter() - t
        print(f"{label}: {users} concurrent users x {requests_per_user}: p50 "
              f"{_pct(times, 50) * 1000:.0f} ms, p95 {_pct(times, 95) * 1000:.0f} ms, "
              f"{len(times) / wall:.0f} req/s (one uvicorn worker, SQLite)")
    server.should_exit = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--institutions", type=int, default=640)
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--skip-national", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    on_demand()
    if not args.skip_national:
        national(args.institutions, args.units, args.workers)
    if not args.skip_http:
        http()


if __name__ == "__main__":
    main()
