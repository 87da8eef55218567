"""Benchmark: drawing samples for many institutions (the national scale of docs/benchmarks.md,
issue 3: 640 institutions, ~1M eligible).

    .venv/bin/python bench/sampling.py --people 1000000 --institutions 640 --db sqlite
    .venv/bin/python bench/sampling.py --people 1000000 --institutions 640 --db postgresql
    .venv/bin/python bench/sampling.py --people 1000000 --institutions 640 --db sqlite --national
    (PostgreSQL elsewhere: --pg-admin URL and/or --pg-port PORT)

People are bulk-inserted (not timed): 20 units per institution, half internal, half external;
on PostgreSQL the database is then vacuumed and analyzed (not timed), as autovacuum would have
done between an import and a draw.
Then `draw_sample` runs for one campaign per institution, each in its own transaction (as
`spibot sample --campaign` does) or, with --national, all in one transaction (`draw_samples`,
which selects in a worker process while this one writes), and the total is reported: wall time,
CPU time of this process, of the selection worker and of the PostgreSQL server (its backends
for this database, the worker's included), assignments written (the sampled people; reserves are
listed in each draw record and get an assignment only when called up). The database is created
for the run under a name of its own and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import add_pg_arguments, database, drop_database, pg_admin, server_cpu  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--institutions", type=int, default=640)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--national", action="store_true",
                        help="all campaigns in one transaction (draw_samples) instead of one each")
    add_pg_arguments(parser)
    args = parser.parse_args()
    admin = pg_admin(args)
    os.environ["DATABASE_URL"] = database(args.db, admin)
    from datetime import timedelta

    from core.clock import utcnow
    from core.db import dispose_engines, session_scope
    from core.migrate import upgrade
    from core.models import Campaign, Institution, Person, Unit
    from population.bulk import BulkWriter
    from population.sampling import draw_sample, draw_samples

    upgrade()
    rng = random.Random(1)
    per_inst = args.people // args.institutions
    now = utcnow()
    campaigns = []
    setup = time.perf_counter()
    columns = ("institution_id", "unit_id", "group", "name", "phone", "status", "flags", "non_asn", "source")
    with session_scope(write=True) as session:
        writer = BulkWriter(session, Person.__table__, columns)  # type: ignore[attr-defined]
        flags, false = writer.value("flags", []), writer.value("non_asn", False)
        for i in range(args.institutions):
            inst = Institution(code=f"I{i:04d}", name=f"Instansi {i}")
            session.add(inst)
            session.flush()
            units = [Unit(institution_id=inst.id, code=f"u{j}", name=f"Unit {j}") for j in range(20)]
            session.add_all(units)
            camp = Campaign(institution_id=inst.id, year=2024, name="SPI", opens_at=now,  # type: ignore[arg-type]
                            closes_at=now + timedelta(days=30), config={})
            session.add(camp)
            session.flush()
            campaigns.append(camp.id)
            with writer:
                for k in range(per_inst):
                    writer.append((inst.id, rng.choice(units).id, "internal" if k % 2 else "external",
                                   f"Orang {i} {k}", f"+62812{i:04d}{k:05d}", "eligible", flags, false, "bench"))
    if args.db == "postgresql":
        # A population is imported days before the draw: autovacuum has long processed it. Here
        # it would start on the fresh million rows during the timed draw and compete for the
        # 2 cores (its CPU counted as the server's), so it runs now, untimed.
        import psycopg

        dispose_engines()
        with psycopg.connect(os.environ["DATABASE_URL"].replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
    print(f"setup ({args.people:,} people) {time.perf_counter() - setup:.1f} s", flush=True)
    phases = _time_phases()
    dbname = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    server = server_cpu(dbname) if args.db == "postgresql" else 0.0
    started, cpu, worker = time.perf_counter(), time.process_time(), _children_cpu()
    draws = []
    if args.national:
        with session_scope(write=True) as session:
            draws = draw_samples(session, [session.get(Campaign, cid) for cid in campaigns], seed=1)  # type: ignore[misc]
    else:
        for cid in campaigns:
            with session_scope(write=True) as session:
                draws.append(draw_sample(session, session.get(Campaign, cid), seed=cid))  # type: ignore[arg-type]
    assigned = sum(a["sample"] for draw in draws for g in ("internal", "external")
                   for a in draw.allocations[g].values())
    reserves = sum(a.get("reserve", 0) for draw in draws for g in ("internal", "external")
                   for a in draw.allocations[g].values())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    worker = _children_cpu() - worker
    server = server_cpu(dbname) - server if args.db == "postgresql" else 0.0
    mode = "one transaction" if args.national else "one transaction per campaign"
    print(f"sampling {args.people:,} eligible people in {args.institutions} institutions ({args.db}, {mode}): "
          f"{elapsed:.1f} s wall, {cpu:.1f} s CPU"
          + (f" (+ selection worker {worker:.1f} s" if worker else " (")
          + (f" + PostgreSQL server {server:.1f} s CPU)" if args.db == "postgresql" else ")")
          + f", {assigned:,} assignments written (sampled), {reserves:,} reserves listed in the draw records, "
          f"load avg {os.getloadavg()[0]:.1f}")
    waited = phases["_record"][0] - phases["write_assignments"][0]
    print(f"  assignment writes (tokens + inserts): {phases['write_assignments'][0]:.1f} s wall, "
          f"{phases['write_assignments'][1]:.1f} s CPU; recording draws apart from that (SampleDraw/audit rows "
          f"pending): {waited:.1f} s; the rest (selection not overlapped with writing, refusal checks, "
          f"{1 if args.national else len(campaigns)} commits): {elapsed - phases['_record'][0]:.1f} s"
          + (" (national: the selection runs in a worker process beside the writes)" if args.national else ""))
    if args.db == "postgresql":
        dispose_engines()
        drop_database(admin, dbname)


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (the national draw's selection worker)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_phases() -> dict[str, list[float]]:
    """Wrap the draw's phases to time them: {name: [wall s, CPU s]}."""
    import population.sampling as sampling

    phases: dict[str, list[float]] = {}

    def timed(name: str) -> None:
        inner = getattr(sampling, name)
        phases[name] = [0.0, 0.0]

        def wrapper(*args: object, **kwargs: object) -> object:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                phases[name][0] += time.perf_counter() - wall
                phases[name][1] += time.process_time() - cpu

        setattr(sampling, name, wrapper)

    for name in ("write_assignments", "_record"):
        timed(name)
    return phases


if __name__ == "__main__":
    main()
